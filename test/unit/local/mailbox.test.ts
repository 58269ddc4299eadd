import net, { type AddressInfo } from "node:net";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { Mailbox, onMailbox } from "#local/aws/mailbox.js";

/** The fast path's coalescing of one synchronous stretch's messages into one postMessage (local/aws/mailbox.ts). */
const open: MessagePort[] = [];
afterEach(() => {
  for (const port of open.splice(0)) port.close();
});

function channel() {
  const { port1, port2 } = new MessageChannel();
  open.push(port1, port2);
  const raw: unknown[] = [];
  port2.on("message", (message: unknown) => raw.push(message));
  return { sender: port1, receiver: port2, raw };
}

/** Resolves once `count` messages have arrived on `port` through `onMailbox`. */
function receiveMessages<T>(port: MessagePort, count: number): Promise<T[]> {
  const got: T[] = [];
  return new Promise((resolve) =>
    onMailbox<T>(port, (message) => {
      got.push(message);
      if (got.length === count) resolve(got);
    }),
  );
}

describe("Mailbox", () => {
  it("sends what one synchronous stretch sent as one message, in order", async () => {
    // Prepare
    const { sender, receiver, raw } = channel();
    const mailbox = new Mailbox<{ id: number }>(sender);
    const received = receiveMessages<{ id: number }>(receiver, 3);
    // Act
    mailbox.send({ id: 1 });
    mailbox.send({ id: 2 });
    mailbox.send({ id: 3 });
    // Assess
    expect(await received).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect(raw).toEqual([[{ id: 1 }, { id: 2 }, { id: 3 }]]);
  });

  it("starts a new message for what a later turn sends", async () => {
    // Prepare
    const { sender, receiver, raw } = channel();
    const mailbox = new Mailbox<string>(sender);
    const received = receiveMessages<string>(receiver, 2);
    // Act
    mailbox.send("first");
    await new Promise((resolve) => setImmediate(resolve));
    mailbox.send("second");
    // Assess
    expect(await received).toEqual(["first", "second"]);
    expect(raw).toEqual([["first"], ["second"]]);
  });

  it("drops what was not sent yet when discarded", async () => {
    // Prepare
    const { sender, receiver, raw } = channel();
    const mailbox = new Mailbox<string>(sender);
    const received = receiveMessages<string>(receiver, 1);
    // Act
    mailbox.send("dropped");
    mailbox.discard();
    mailbox.send("kept");
    // Assess
    expect(await received).toEqual(["kept"]);
    expect(raw).toEqual([["kept"]]);
  });

  it("sends what follows a yield (an await) in a new message, without waiting for the end of the turn", async () => {
    // Prepare
    const { sender, receiver, raw } = channel();
    const mailbox = new Mailbox<string>(sender);
    const received = receiveMessages<string>(receiver, 3);
    // Act
    mailbox.send("first");
    mailbox.send("second");
    await Promise.resolve();
    mailbox.send("after the await");
    // Assess
    expect(await received).toEqual(["first", "second", "after the await"]);
    expect(raw).toEqual([["first", "second"], ["after the await"]]);
  });
});

describe("onMailbox with yieldToIo (the main thread's answers)", () => {
  it("hands every message of every batch on, in the order sent", async () => {
    // Prepare
    const { port1: sender, port2: receiver } = new MessageChannel();
    open.push(sender, receiver);
    const got: number[] = [];
    const all = new Promise<void>((resolve) =>
      onMailbox<number>(
        receiver,
        (n) => {
          got.push(n);
          if (got.length === 6) resolve();
        },
        { yieldToIo: true },
      ),
    );

    // Act: three batches in a row, as three answers of the emulators' thread
    sender.postMessage([1, 2]);
    sender.postMessage([3]);
    sender.postMessage([4, 5, 6]);
    await all;

    // Assess
    expect(got).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("reads a socket that becomes ready while a chain of answers goes on (each answer's continuation calls again)", async () => {
    // Prepare: a loopback connection, accepted; a chain of answers in which the tenth makes the server write
    const server = net.createServer();
    const accepted = new Promise<net.Socket>((resolve) => server.on("connection", resolve));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const socket = net.connect((server.address() as AddressInfo).port, "127.0.0.1");
    const serverSide = await accepted;
    const { port1: sender, port2: receiver } = new MessageChannel();
    open.push(sender, receiver);
    const CHAIN = 500;
    const order: (number | "socket")[] = [];
    const chained = new Promise<void>((resolve) =>
      onMailbox<number>(
        receiver,
        (n) => {
          order.push(n);
          if (n === 10) serverSide.end("ready");
          // As a handler's next call: its answer comes back while this drain may still be going on
          if (n < CHAIN) sender.postMessage([n + 1]);
          else resolve();
        },
        { yieldToIo: true },
      ),
    );
    const read = new Promise<void>((resolve) =>
      socket.on("data", () => {
        order.push("socket");
        resolve();
      }),
    );

    // Act
    sender.postMessage([1]);
    await Promise.all([chained, read]);
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));

    // Assess: read within a turn or two of its bytes arriving, not after the whole chain (handled on arrival,
    // Node's MessagePort keeps handling the messages that arrive during its drain, up to 1,000: "socket" at 500)
    expect(order.indexOf("socket")).toBeGreaterThanOrEqual(10);
    expect(order.indexOf("socket")).toBeLessThan(20);
  });
});
