/** `items` cut into consecutive slices of at most `size` (AWS batch calls: 10 SQS entries, 25 DynamoDB puts). */
export function chunksOf<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}
