// Local development only. Miniflare's local Hyperdrive proxy (in Node) pipes
// PostgreSQL's bytes without TCP_NODELAY, so a result larger than one write
// stalls ~40 ms on Nagle + delayed ACK. Loaded into the process that runs
// Miniflare (and into wrangler dev via NODE_OPTIONS) to turn Nagle off for
// every socket it opens or accepts. Production Hyperdrive is not affected.
const net = require("node:net");
const emit = net.Server.prototype.emit;
net.Server.prototype.emit = function (event, socket, ...rest) {
  if (event === "connection" && socket && typeof socket.setNoDelay === "function") socket.setNoDelay(true);
  return emit.call(this, event, socket, ...rest);
};
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  this.setNoDelay(true);
  return connect.apply(this, args);
};
