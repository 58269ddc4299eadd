/** The page's whole stylesheet, written to dist/console.css by build.ts. */
export const STYLE = `
:root { font: 14px/1.4 system-ui, sans-serif; color: #1d2733; background: #f4f6f8; }
body { margin: 0; }
header { background: #1d2733; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: center; }
header h1 { font-size: 18px; margin: 0; }
header .meta { opacity: .75; font-size: 12px; }
main { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 14px; padding: 14px 20px; }
section { background: #fff; border-radius: 6px; padding: 10px 14px; box-shadow: 0 1px 2px #0002; overflow: auto; }
section.wide, [data-testid=topics-panel], [data-testid=lateness-panel] { grid-column: 1 / -1; }
h2 { font-size: 15px; margin: 4px 0 10px; } h3 { font-size: 14px; margin: 12px 0 6px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e7eb; white-space: nowrap; }
th { color: #5b6b7b; font-weight: 600; }
tr.selected { background: #e8f4f3; } tbody tr { cursor: default; }
.stats { display: flex; gap: 12px; flex-wrap: wrap; margin-bottom: 8px; }
.stat { background: #f4f6f8; border-radius: 6px; padding: 6px 12px; min-width: 90px; }
.stat .value { font-size: 20px; font-weight: 600; } .stat .label { color: #5b6b7b; font-size: 12px; }
.row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin: 6px 0; }
input { padding: 4px 6px; border: 1px solid #c5ced6; border-radius: 4px; min-width: 220px; }
input[type=checkbox] { min-width: 0; }
button { padding: 4px 10px; border: 1px solid #9aa8b5; border-radius: 4px; background: #fff; cursor: pointer; }
button:disabled { opacity: .5; cursor: default; } button.danger { border-color: #c0392b; color: #c0392b; }
.error { color: #c0392b; } .hint { color: #5b6b7b; font-size: 12px; } .detail { color: #5b6b7b; white-space: normal; }
.timeline { padding-left: 20px; } .timeline li { margin: 2px 0; }
pre { background: #f4f6f8; padding: 8px; border-radius: 4px; white-space: pre-wrap; word-break: break-all; }
dialog { border: none; border-radius: 8px; box-shadow: 0 4px 24px #0004; max-width: 480px; }
select { padding: 3px; }
button.link { border: none; padding: 0; color: #1f5f99; text-decoration: underline; background: none; font: inherit; }
`;
