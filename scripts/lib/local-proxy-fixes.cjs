// Local development only: fixes for Miniflare's local Hyperdrive proxy, which
// runs in Node (in the process that runs Miniflare, or in wrangler dev's),
// loaded there by scripts/lib/worker.ts. Production Hyperdrive is not affected.
//
// 1. It pipes PostgreSQL's bytes without TCP_NODELAY, so a result larger than
//    one write stalled ~40 ms on Nagle + delayed ACK. Nagle is turned off for
//    every socket the process opens or accepts.
// 2. Its sockets have no 'error' listener: when workerd resets a connection
//    (a request cancelled mid-query), the ECONNRESET was an uncaught error that
//    killed the whole dev server ("the Worker stopped answering"). Errors now
//    close both sides of that one connection instead.
const net = require("node:net");

function harden(socket) {
  socket.setNoDelay(true);
  if (socket.listenerCount("error") === 0) {
    socket.on("error", () => socket.destroy());
  }
}

const emit = net.Server.prototype.emit;
net.Server.prototype.emit = function (event, socket, ...rest) {
  if (event === "connection" && socket instanceof net.Socket) harden(socket);
  return emit.call(this, event, socket, ...rest);
};
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  harden(this);
  return connect.apply(this, args);
};
// A piped peer must not outlive its partner: close the other side when one closes.
const pipe = net.Socket.prototype.pipe;
net.Socket.prototype.pipe = function (dest, opts) {
  if (dest instanceof net.Socket) {
    this.once("close", () => dest.destroy());
  }
  return pipe.call(this, dest, opts);
};
