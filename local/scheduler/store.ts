import { mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { writeFileAtomic } from "#local/runtime/atomic-file.js";
import { DataFileError } from "#local/runtime/data-file-error.js";
import { SchedulerError } from "./errors.js";

export type ScheduleState = "ENABLED" | "DISABLED";
export type ActionAfterCompletion = "NONE" | "DELETE";

export interface FlexibleTimeWindow {
  readonly Mode: "OFF" | "FLEXIBLE";
  readonly MaximumWindowInMinutes?: number;
}

export interface RetryPolicy {
  readonly MaximumEventAgeInSeconds?: number;
  readonly MaximumRetryAttempts?: number;
}

/** Parameters for other target types (EcsParameters, KinesisParameters, …) are kept and returned verbatim. */
export interface Target {
  readonly Arn: string;
  readonly RoleArn: string;
  readonly Input?: string;
  readonly DeadLetterConfig?: { readonly Arn?: string };
  readonly RetryPolicy?: RetryPolicy;
  readonly SqsParameters?: { readonly MessageGroupId?: string };
  readonly [parameters: string]: unknown;
}

export interface ScheduleDefinition {
  readonly Name: string;
  readonly GroupName: string;
  readonly ScheduleExpression: string;
  readonly ScheduleExpressionTimezone?: string;
  readonly Description?: string;
  readonly State: ScheduleState;
  /** Epoch seconds, as on the wire. */
  readonly StartDate?: number;
  readonly EndDate?: number;
  readonly KmsKeyArn?: string;
  readonly Target: Target;
  readonly FlexibleTimeWindow: FlexibleTimeWindow;
  readonly ActionAfterCompletion: ActionAfterCompletion;
}

export interface FirePlan {
  /** The instant the at() expression names (ms). */
  readonly scheduledAt: number;
  /** When the emulator will invoke the target: `scheduledAt` plus the firing-window and flexible jitter. */
  readonly fireAt: number;
}

export interface ScheduleRecord extends ScheduleDefinition, Partial<FirePlan> {
  readonly Arn: string;
  /** Epoch seconds. */
  readonly CreationDate: number;
  readonly LastModificationDate: number;
  readonly clientToken?: string;
  /** A one-time schedule that has invoked its target (or dead-lettered) and is kept (ActionAfterCompletion NONE). */
  readonly completed: boolean;
  /**
   * New on every change so the timer can tell a stale heap entry from a live one. Drawn from one counter for the
   * whole store, never per name: a schedule deleted (or fired with DELETE) and created again under its name is a
   * new schedule, and a per-name count restarting at 0 let the old one's pending invocation fire the new one early.
   * Not persisted.
   */
  readonly revision: number;
}

export interface Tag {
  readonly Key: string;
  readonly Value: string;
}

/**
 * AWS: "A schedule group has two possible states: ACTIVE and DELETING. ... You can add schedules to an ACTIVE group.
 * When you delete a group, the state changes to DELETING until EventBridge Scheduler finishes the deletion of the
 * associated schedules." (User Guide, "Managing a schedule group"; API reference, DeleteScheduleGroup.)
 */
export type GroupState = "ACTIVE" | "DELETING";

export interface GroupRecord {
  readonly Name: string;
  readonly Arn: string;
  readonly State: GroupState;
  readonly CreationDate: number;
  readonly LastModificationDate: number;
  readonly Tags: readonly Tag[];
  readonly clientToken?: string;
}

export interface Page<T> {
  readonly items: readonly T[];
  readonly nextToken?: string;
}

export interface ScheduleStoreOptions {
  readonly region: string;
  readonly accountId: string;
  readonly now: () => number;
  /** Fire plan of a schedule (undefined for rate/cron, which the emulator never fires). */
  readonly plan: (definition: ScheduleDefinition) => FirePlan | undefined;
  /** Told of every schedule that appears, changes or disappears, so the timer can (re)arm. */
  readonly onChange: (previous: ScheduleRecord | undefined, next: ScheduleRecord | undefined) => void;
  /**
   * Told of a group that is now DELETING (deleted, or loaded so from persistence): the emulator finishes its
   * deletion later (`finishGroupDeletion`), as AWS deletes a group's schedules asynchronously.
   */
  readonly onGroupDeleting?: (name: string) => void;
  readonly persistencePath?: string;
  readonly logger: (line: string) => void;
}

export const DEFAULT_GROUP = "default";
const MIN_PERSIST_DELAY_MS = 20;
const MAX_PERSIST_DELAY_MS = 2_000;

interface PersistedState {
  readonly version: 1;
  readonly groups: readonly GroupRecord[];
  readonly schedules: readonly Omit<ScheduleRecord, "revision">[];
}

/** Names cannot contain '/', so this is unique. */
export const scheduleKey = (groupName: string, name: string) => `${groupName}/${name}`;

export class ScheduleStore {
  private readonly schedules = new Map<string, ScheduleRecord>();
  private readonly groups = new Map<string, GroupRecord>();
  /** Schedule names per group, for group-scoped listing and for deleting a group's schedules. */
  private readonly members = new Map<string, Set<string>>();
  private readonly persistence: JsonFileWriter | undefined;
  private lastRevision = 0;

  constructor(private readonly options: ScheduleStoreOptions) {
    this.persistence = options.persistencePath
      ? new JsonFileWriter(options.persistencePath, () => this.snapshot(), options.logger)
      : undefined;
  }

  async load(): Promise<void> {
    const state = this.options.persistencePath ? await readState(this.options.persistencePath) : undefined;
    for (const group of state?.groups ?? []) this.putGroup(group);
    if (!this.groups.has(DEFAULT_GROUP)) this.putGroup(this.newGroup(DEFAULT_GROUP, [], undefined));
    for (const saved of state?.schedules ?? []) {
      if (!this.groups.has(saved.GroupName)) this.putGroup(this.newGroup(saved.GroupName, [], undefined));
      this.putSchedule({ ...saved, revision: this.nextRevision() });
    }
    if (state) this.options.logger(`scheduler: loaded ${this.schedules.size} schedule(s) from persistence`);
    // A deletion the last run had not finished: finished by this one.
    for (const group of this.groups.values()) {
      if (group.State === "DELETING") this.options.onGroupDeleting?.(group.Name);
    }
  }

  /** Writes any pending change now; resolves once it is on disk. With `close`, nothing is written afterwards. */
  flush(close = false): Promise<void> {
    return this.persistence?.flush(close) ?? Promise.resolve();
  }

  get scheduleCount(): number {
    return this.schedules.size;
  }

  // --- schedules ---------------------------------------------------------------------------------------

  createSchedule(definition: ScheduleDefinition, clientToken: string | undefined): ScheduleRecord {
    this.requireActiveGroup(definition.GroupName);
    const key = scheduleKey(definition.GroupName, definition.Name);
    const existing = this.schedules.get(key);
    if (existing) {
      // A retried request (same ClientToken) succeeds again instead of conflicting with itself.
      if (clientToken !== undefined && existing.clientToken === clientToken) return existing;
      throw new SchedulerError("ConflictException", `Schedule ${definition.Name} already exists.`);
    }
    const now = this.nowSeconds();
    const record: ScheduleRecord = {
      ...definition,
      ...this.options.plan(definition),
      Arn: this.scheduleArn(definition.GroupName, definition.Name),
      CreationDate: now,
      LastModificationDate: now,
      ...(clientToken === undefined ? {} : { clientToken }),
      completed: false,
      revision: this.nextRevision(),
    };
    this.putSchedule(record);
    return record;
  }

  /**
   * UpdateSchedule replaces the whole definition (omitted fields revert to their defaults, as on AWS). A one-time
   * schedule that already fired is armed again: the update is a new definition, possibly with a new time.
   */
  updateSchedule(definition: ScheduleDefinition, clientToken: string | undefined): ScheduleRecord {
    this.requireActiveGroup(definition.GroupName);
    const previous = this.requireSchedule(definition.GroupName, definition.Name);
    const record: ScheduleRecord = {
      ...definition,
      ...this.options.plan(definition),
      Arn: previous.Arn,
      CreationDate: previous.CreationDate,
      LastModificationDate: this.nowSeconds(),
      ...(clientToken === undefined ? {} : { clientToken }),
      completed: false,
      revision: this.nextRevision(),
    };
    this.putSchedule(record);
    return record;
  }

  getSchedule(groupName: string, name: string): ScheduleRecord {
    return this.requireSchedule(groupName, name);
  }

  deleteSchedule(groupName: string, name: string): void {
    const record = this.requireSchedule(groupName, name);
    this.removeSchedule(record);
  }

  /** Live record behind a timer entry, if it still exists. */
  lookup(key: string): ScheduleRecord | undefined {
    return this.schedules.get(key);
  }

  /**
   * Called by the timer once a one-time schedule has invoked its target or dead-lettered. Ignored when the
   * schedule was deleted or updated meanwhile: the update's own definition decides what happens next.
   */
  complete(key: string, revision: number): void {
    const record = this.schedules.get(key);
    if (!record || record.revision !== revision) return;
    if (record.ActionAfterCompletion === "DELETE") {
      this.removeSchedule(record);
    } else {
      this.putSchedule({ ...record, completed: true, revision: this.nextRevision() });
    }
  }

  listSchedules(query: {
    readonly groupName?: string;
    readonly namePrefix?: string;
    readonly state?: ScheduleState;
    readonly maxResults: number;
    readonly nextToken?: string;
  }): Page<ScheduleRecord> {
    let candidates: ScheduleRecord[];
    if (query.groupName !== undefined) {
      // AWS answers an unknown group with an empty list, not an error.
      const names = this.members.get(query.groupName) ?? new Set<string>();
      candidates = [];
      for (const name of names) {
        const record = this.schedules.get(scheduleKey(query.groupName, name));
        if (record) candidates.push(record);
      }
    } else {
      candidates = [...this.schedules.values()];
    }
    const after = query.nextToken === undefined ? undefined : decodeToken("schedules", query.nextToken);
    const matching = candidates
      .filter(
        (r) =>
          (query.namePrefix === undefined || r.Name.startsWith(query.namePrefix)) &&
          (query.state === undefined || r.State === query.state),
      )
      .map((r) => ({ sortKey: `${r.GroupName}\u0000${r.Name}`, record: r }))
      .filter((entry) => after === undefined || entry.sortKey > after)
      .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
    const page = matching.slice(0, query.maxResults);
    const last = page.at(-1);
    return {
      items: page.map((entry) => entry.record),
      ...(matching.length > page.length && last ? { nextToken: encodeToken("schedules", last.sortKey) } : {}),
    };
  }

  // --- groups ------------------------------------------------------------------------------------------

  createGroup(name: string, tags: readonly Tag[], clientToken: string | undefined): GroupRecord {
    const existing = this.groups.get(name);
    if (existing) {
      if (clientToken !== undefined && existing.clientToken === clientToken) return existing;
      throw new SchedulerError("ConflictException", `Schedule group ${name} already exists.`);
    }
    const group = this.newGroup(name, tags, clientToken);
    this.putGroup(group);
    this.persistence?.markDirty();
    return group;
  }

  getGroup(name: string): GroupRecord {
    return this.requireGroup(name);
  }

  /**
   * DeleteScheduleGroup: the group turns DELETING and stays so, its schedules readable and firing ("Schedules
   * associated with the group that are set to run while the schedule group is in the process of being deleted might
   * continue to invoke their targets"), until `finishGroupDeletion` removes them and it. Deleting it again meanwhile
   * is a ConflictException: AWS documents no answer for it (assumed, as the error DeleteScheduleGroup lists for
   * "updating or deleting the resource can cause an inconsistent state").
   */
  deleteGroup(name: string): void {
    if (name === DEFAULT_GROUP) {
      throw new SchedulerError("ValidationException", "The default schedule group cannot be deleted.");
    }
    const group = this.requireGroup(name);
    if (group.State === "DELETING") {
      throw new SchedulerError("ConflictException", `Schedule group ${name} is being deleted.`);
    }
    this.putGroup({ ...group, State: "DELETING", LastModificationDate: this.nowSeconds() });
    this.persistence?.markDirty();
    this.options.onGroupDeleting?.(name);
  }

  /** The asynchronous half of DeleteScheduleGroup: a DELETING group's schedules, then the group, are gone. */
  finishGroupDeletion(name: string): boolean {
    if (this.groups.get(name)?.State !== "DELETING") return false;
    for (const scheduleName of [...(this.members.get(name) ?? [])]) {
      const record = this.schedules.get(scheduleKey(name, scheduleName));
      if (record) this.removeSchedule(record);
    }
    this.groups.delete(name);
    this.members.delete(name);
    this.persistence?.markDirty();
    return true;
  }

  /** The groups whose deletion is not finished yet. */
  deletingGroups(): string[] {
    return [...this.groups.values()].filter((g) => g.State === "DELETING").map((g) => g.Name);
  }

  listGroups(query: {
    readonly namePrefix?: string;
    readonly maxResults: number;
    readonly nextToken?: string;
  }): Page<GroupRecord> {
    const after = query.nextToken === undefined ? undefined : decodeToken("groups", query.nextToken);
    const matching = [...this.groups.values()]
      .filter(
        (g) =>
          (query.namePrefix === undefined || g.Name.startsWith(query.namePrefix)) &&
          (after === undefined || g.Name > after),
      )
      .sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
    const page = matching.slice(0, query.maxResults);
    const last = page.at(-1);
    return {
      items: page,
      ...(matching.length > page.length && last ? { nextToken: encodeToken("groups", last.Name) } : {}),
    };
  }

  // --- tags (schedule groups are the only taggable resource) ---------------------------------------------

  listTags(resourceArn: string): readonly Tag[] {
    return this.groupByArn(resourceArn).Tags;
  }

  tagResource(resourceArn: string, tags: readonly Tag[]): void {
    const group = this.groupByArn(resourceArn);
    const merged = new Map(group.Tags.map((t) => [t.Key, t.Value]));
    for (const tag of tags) merged.set(tag.Key, tag.Value);
    this.putGroup({ ...group, Tags: [...merged].map(([Key, Value]) => ({ Key, Value })) });
    this.persistence?.markDirty();
  }

  untagResource(resourceArn: string, keys: readonly string[]): void {
    const group = this.groupByArn(resourceArn);
    const drop = new Set(keys);
    this.putGroup({ ...group, Tags: group.Tags.filter((t) => !drop.has(t.Key)) });
    this.persistence?.markDirty();
  }

  // --- internals ---------------------------------------------------------------------------------------

  private nextRevision(): number {
    this.lastRevision += 1;
    return this.lastRevision;
  }

  private nowSeconds(): number {
    return this.options.now() / 1000;
  }

  private scheduleArn(groupName: string, name: string): string {
    return `arn:aws:scheduler:${this.options.region}:${this.options.accountId}:schedule/${groupName}/${name}`;
  }

  private newGroup(name: string, tags: readonly Tag[], clientToken: string | undefined): GroupRecord {
    const now = this.nowSeconds();
    return {
      Name: name,
      Arn: `arn:aws:scheduler:${this.options.region}:${this.options.accountId}:schedule-group/${name}`,
      State: "ACTIVE",
      CreationDate: now,
      LastModificationDate: now,
      Tags: tags,
      ...(clientToken === undefined ? {} : { clientToken }),
    };
  }

  private putGroup(group: GroupRecord): void {
    this.groups.set(group.Name, group);
    if (!this.members.has(group.Name)) this.members.set(group.Name, new Set());
  }

  private requireGroup(name: string): GroupRecord {
    const group = this.groups.get(name);
    if (!group)
      throw new SchedulerError("ResourceNotFoundException", `Schedule group ${name} does not exist.`);
    return group;
  }

  /**
   * AWS adds schedules to an ACTIVE group only. The error for a DELETING one is undocumented: assumed
   * ConflictException (CreateSchedule's and UpdateSchedule's "can cause an inconsistent state"), and UpdateSchedule
   * refused alike, since the schedule it would change is being deleted.
   */
  private requireActiveGroup(name: string): GroupRecord {
    const group = this.requireGroup(name);
    if (group.State === "DELETING") {
      throw new SchedulerError("ConflictException", `Schedule group ${name} is being deleted.`);
    }
    return group;
  }

  private groupByArn(arn: string): GroupRecord {
    const name = /^arn:aws[a-z-]*:scheduler:[a-z0-9-]+:\d{12}:schedule-group\/([0-9a-zA-Z-_.]+)$/.exec(
      arn,
    )?.[1];
    const group = name === undefined ? undefined : this.groups.get(name);
    if (!group || group.Arn !== arn) {
      throw new SchedulerError("ResourceNotFoundException", `Resource ${arn} does not exist.`);
    }
    return group;
  }

  private requireSchedule(groupName: string, name: string): ScheduleRecord {
    const record = this.schedules.get(scheduleKey(groupName, name));
    if (!record) throw new SchedulerError("ResourceNotFoundException", `Schedule ${name} does not exist.`);
    return record;
  }

  private putSchedule(record: ScheduleRecord): void {
    const key = scheduleKey(record.GroupName, record.Name);
    const previous = this.schedules.get(key);
    this.schedules.set(key, record);
    this.members.get(record.GroupName)?.add(record.Name);
    this.persistence?.markDirty();
    this.options.onChange(previous, record);
  }

  private removeSchedule(record: ScheduleRecord): void {
    this.schedules.delete(scheduleKey(record.GroupName, record.Name));
    this.members.get(record.GroupName)?.delete(record.Name);
    this.persistence?.markDirty();
    this.options.onChange(record, undefined);
  }

  private snapshot(): PersistedState {
    return {
      version: 1,
      groups: [...this.groups.values()],
      schedules: [...this.schedules.values()].map(({ revision: _revision, ...rest }) => rest),
    };
  }
}

/**
 * A page token names the list it belongs to and the last position given, so one the emulator never gave (a forged
 * string, another list's token) is refused with AWS's ValidationException rather than listed from wherever it
 * happens to decode to. Schedules are positioned by `group NUL name`, groups by name.
 */
type TokenKind = "schedules" | "groups";

function encodeToken(kind: TokenKind, position: string): string {
  return Buffer.from(`${kind}:${position}`, "utf8").toString("base64url");
}

function decodeToken(kind: TokenKind, token: string): string {
  const text = /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, "base64url").toString("utf8") : "";
  const position = text.startsWith(`${kind}:`) ? text.slice(kind.length + 1) : "";
  // Canonical only: bytes that are not UTF-8, or padding bits, would not encode back to the same token.
  if (encodeToken(kind, position) !== token || !wellFormedPosition(kind, position)) {
    throw new SchedulerError("ValidationException", "The NextToken is not valid.");
  }
  return position;
}

function wellFormedPosition(kind: TokenKind, position: string): boolean {
  const parts = position.split("\u0000");
  return kind === "groups"
    ? parts.length === 1 && position !== ""
    : parts.length === 2 && parts.every((part) => part !== "");
}

async function readState(path: string): Promise<PersistedState | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  // A corrupt file is an error, never an empty scheduler: silently dropping schedules would lose tasks.
  const refuse = (reason: string) =>
    new DataFileError(
      path,
      `${path} is not a scheduler emulator state file (version 1) (${reason}); restore it, or move it away to ` +
        "start without the schedules it held",
    );
  let state: PersistedState;
  try {
    state = JSON.parse(text) as PersistedState;
  } catch (error) {
    throw refuse((error as Error).message);
  }
  if (state?.version !== 1 || !Array.isArray(state.groups) || !Array.isArray(state.schedules)) {
    throw refuse("expected version 1 with groups and schedules");
  }
  return state;
}

/**
 * Coalesces bursts of mutations into few writes of the whole state: at most one write runs at a time, and the
 * next waits a few times as long as the last one took, so a large state under a storm of CreateSchedule calls
 * costs a bounded share of the event loop instead of being re-serialised back to back. Each write replaces the
 * file atomically (local/runtime/atomic-file.ts), so a crash never leaves a half-written file behind; one write at
 * a time keeps the latest state the one that lands.
 */
class JsonFileWriter {
  private dirty = false;
  private closed = false;
  private delayMs = MIN_PERSIST_DELAY_MS;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private directoryReady = false;

  constructor(
    private readonly path: string,
    private readonly snapshot: () => unknown,
    private readonly logger: (line: string) => void,
  ) {}

  markDirty(): void {
    this.dirty = true;
    if (!this.timer && !this.writing) this.schedule();
  }

  /** Writes what is pending; with `close`, later changes are no longer written. */
  async flush(close = false): Promise<void> {
    if (close) this.closed = true;
    this.cancelTimer();
    if (this.writing) await this.writing;
    this.cancelTimer();
    if (this.dirty) await this.write();
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.write();
    }, this.delayMs);
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private write(): Promise<void> {
    const started = performance.now();
    this.writing = (async () => {
      try {
        this.dirty = false;
        const text = JSON.stringify(this.snapshot());
        if (!this.directoryReady) {
          await mkdir(dirname(this.path), { recursive: true });
          this.directoryReady = true;
        }
        await writeFileAtomic(this.path, text);
      } catch (error) {
        this.dirty = true;
        this.logger(`scheduler: could not persist state to ${this.path}: ${String(error)}`);
      } finally {
        this.writing = undefined;
        const took = performance.now() - started;
        this.delayMs = Math.min(MAX_PERSIST_DELAY_MS, Math.max(MIN_PERSIST_DELAY_MS, 4 * took));
        if (this.dirty) this.schedule();
      }
    })();
    return this.writing;
  }
}
