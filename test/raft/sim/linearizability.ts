// A linearizability checker, after Porcupine (Athalye, 2017), which follows Lowe's refinement of
// Wing & Gong: walk the history's call/return events in time order, try to linearize each call
// whose model step accepts its output, backtrack at a return whose call could not be placed, and
// memoize (set of linearized operations, model state) pairs so no configuration is explored twice.
// Histories are first split by the model (per key, for a key-value store), since linearizability
// is compositional (Herlihy & Wing): each part is checked alone.
import { assert } from '../../../src/errors.ts';

export interface Operation<Input, Output> {
  readonly clientId: number;
  readonly input: Input;
  /** `null` for a call that never returned (timed out, crashed): any output is accepted. */
  readonly output: Output | null;
  readonly callTime: number;
  /** `Infinity` for a call that never returned. */
  readonly returnTime: number;
}

export interface Model<State, Input, Output> {
  partition(history: readonly Operation<Input, Output>[]): Operation<Input, Output>[][];
  init(): State;
  /** Whether `output` is a legal result of `input` in `state`, and the state after it. */
  step(state: State, input: Input, output: Output | null): { ok: boolean; state: State };
  /** A string equal for equal states: the memo key. */
  key(state: State): string;
}

export type CheckResult = 'ok' | 'illegal' | 'unknown';

/** Configurations explored per partition before giving up with 'unknown'. */
export const exploredConfigurationsMax = 2_000_000;

interface EventNode<Input, Output> {
  readonly operationId: number;
  readonly time: number;
  readonly isCall: boolean;
  readonly input: Input | null;
  readonly output: Output | null;
  /** For a call: its return event. */
  match: EventNode<Input, Output> | null;
  prev: EventNode<Input, Output> | null;
  next: EventNode<Input, Output> | null;
}

export function checkOperations<State, Input, Output>(model: Model<State, Input, Output>, history: readonly Operation<Input, Output>[]): CheckResult {
  let result: CheckResult = 'ok';
  for (const part of model.partition(history)) {
    const partResult = checkPartition(model, part);
    if (partResult === 'illegal') return 'illegal';
    if (partResult === 'unknown') result = 'unknown';
  }
  return result;
}

function buildEventList<Input, Output>(history: readonly Operation<Input, Output>[]): EventNode<Input, Output> {
  const events: EventNode<Input, Output>[] = [];
  history.forEach((operation, operationId) => {
    assert(operation.callTime < operation.returnTime, 'an operation returns after its call');
    const returnEvent: EventNode<Input, Output> = { operationId, time: operation.returnTime, isCall: false, input: null, output: operation.output, match: null, prev: null, next: null };
    events.push({ operationId, time: operation.callTime, isCall: true, input: operation.input, output: null, match: returnEvent, prev: null, next: null });
    events.push(returnEvent);
  });
  // Equal times: a call first, which treats the two operations as concurrent (the weaker claim).
  events.sort((a, b) => (a.time !== b.time ? a.time - b.time : a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: EventNode<Input, Output> = { operationId: -1, time: -Infinity, isCall: false, input: null, output: null, match: null, prev: null, next: null };
  let last = head;
  for (const event of events) {
    event.prev = last;
    last.next = event;
    last = event;
  }
  return head;
}

/** Take a call and its return out of the list: the operation is linearized. */
function lift<Input, Output>(call: EventNode<Input, Output>): void {
  const returnEvent = call.match!;
  call.prev!.next = call.next;
  if (call.next !== null) call.next.prev = call.prev;
  returnEvent.prev!.next = returnEvent.next;
  if (returnEvent.next !== null) returnEvent.next.prev = returnEvent.prev;
}

/** Put them back, in reverse order of lift. */
function unlift<Input, Output>(call: EventNode<Input, Output>): void {
  const returnEvent = call.match!;
  returnEvent.prev!.next = returnEvent;
  if (returnEvent.next !== null) returnEvent.next.prev = returnEvent;
  call.prev!.next = call;
  if (call.next !== null) call.next.prev = call;
}

class Bitset {
  readonly words: Uint32Array;
  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32) + 1);
  }
  set(bit: number): void {
    this.words[bit >>> 5]! |= 1 << (bit & 31);
  }
  clear(bit: number): void {
    this.words[bit >>> 5]! &= ~(1 << (bit & 31));
  }
  key(): string {
    return this.words.join(',');
  }
}

function checkPartition<State, Input, Output>(model: Model<State, Input, Output>, history: readonly Operation<Input, Output>[]): CheckResult {
  const head = buildEventList(history);
  const linearized = new Bitset(history.length);
  const explored = new Set<string>();
  const stack: { call: EventNode<Input, Output>; state: State }[] = [];
  let state = model.init();
  let entry = head.next;
  while (head.next !== null) {
    assert(entry !== null, 'a return event ends every walk');
    if (entry.isCall) {
      const step = model.step(state, entry.input as Input, entry.match!.output);
      if (step.ok) {
        linearized.set(entry.operationId);
        const configuration = `${linearized.key()}|${model.key(step.state)}`;
        if (!explored.has(configuration)) {
          if (explored.size >= exploredConfigurationsMax) return 'unknown';
          explored.add(configuration);
          stack.push({ call: entry, state });
          state = step.state;
          lift(entry);
          entry = head.next;
          continue;
        }
        linearized.clear(entry.operationId);
      }
      entry = entry.next;
      continue;
    }
    // A return whose call was not linearized before it: undo the last choice.
    const top = stack.pop();
    if (top === undefined) return 'illegal';
    state = top.state;
    linearized.clear(top.call.operationId);
    unlift(top.call);
    entry = top.call.next;
  }
  return 'ok';
}
