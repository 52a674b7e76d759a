/**
 * The Python half of the sandbox: run once, before the program, in a
 * namespace of its own (the program gets a fresh globals dict holding only
 * `pg` and `PgError`).
 *
 * It defines `pg`, the event loop the program runs on, and the three entry
 * points the JavaScript driver calls (`_start`, `_step`, `_answer`). The loop
 * is pure Python: a `pg` call queues a request and awaits a Future, the driver
 * (JavaScript) performs the call and answers with a string. So the program
 * never needs a JavaScript object, which is what lets module.ts close the
 * WebAssembly/JavaScript boundary before the program starts. The entry points
 * take no arguments (a call with arguments hands Python a JavaScript array):
 * the driver puts their input, a string, in `_inbox` first.
 *
 * The import and audit measures at the end give the program clean Python
 * errors for the obvious routes (`import js`, `ctypes`, ...). They are a
 * courtesy, not the boundary: CPython cannot be sandboxed from inside (frames,
 * closures and builtins are all reachable), so the boundary is enforced in
 * JavaScript, where Python cannot reach (module.ts).
 */
export const PY_PRELUDE = String.raw`
import ast as _ast, asyncio as _asyncio, builtins as _builtins, json as _json, sys as _sys, traceback as _traceback


class PgError(Exception):
    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class _NoSelector:
    # The loop never waits inside Python: between steps the JavaScript driver waits for
    # pg answers and timers, then steps again.
    def select(self, timeout):
        return []


class _Loop(_asyncio.BaseEventLoop):
    """asyncio without I/O: Pyodide's own WebLoop schedules through JavaScript, this one does not."""
    def __init__(self):
        super().__init__()
        self._selector = _NoSelector()
    def _process_events(self, event_list):
        pass
    def _write_to_self(self):
        pass


_loop = _Loop()
_pending = []   # [id, tool, args_json] not yet picked up by the driver
_waiting = {}   # id -> Future the program awaits
_run = {"task": None, "error": None, "next": 0}
_inbox = None   # set by the driver (a string) before it calls _start or _answer


class _Pg:
    """The database. Every method is a coroutine: await it."""
    async def call(self, tool, args=None):
        """Any tool the caller may use, by name (e.g. "pg_schema_list"); returns its structured result."""
        _run["next"] += 1
        rid = _run["next"]
        fut = _loop.create_future()
        _waiting[rid] = fut
        _pending.append([rid, str(tool), _json.dumps(args if args is not None else {}, default=str)])
        r = _json.loads(await fut)
        if not r.get("ok"):
            raise PgError(r.get("error"), r.get("code"))
        return r.get("value")
    async def query(self, sql, params=None, tx=None):
        """Rows as a list of dicts."""
        args = {"sql": sql}
        if params is not None: args["params"] = list(params)
        if tx is not None: args["tx"] = tx
        rs = await self.call("pg.query", args)
        cols = [c["name"] for c in rs.get("columns", [])]
        return [dict(zip(cols, row)) if isinstance(row, list) else row for row in rs.get("rows", [])]
    async def list_tables(self, schema=None):
        return await self.call("pg.listTables", {} if schema is None else {"schema": schema})
    async def get_columns(self, table):
        return await self.call("pg.getColumns", {"table": table})


pg = _Pg()


def _start():
    """Compiles the program in _inbox (the last expression's value is the result) and makes it the loop's task."""
    code = _inbox
    try:
        tree = _ast.parse(code, "<program>", "exec")
        if tree.body and isinstance(tree.body[-1], _ast.Expr):
            last = tree.body[-1]
            tree.body[-1] = _ast.copy_location(_ast.Assign(targets=[_ast.Name("__pg_result__", _ast.Store())], value=last.value), last)
        _ast.fix_missing_locations(tree)
        co = compile(tree, "<program>", "exec", flags=_ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except BaseException as e:
        _run["error"] = e
        return
    # A fresh globals dict: the program sees pg and PgError, not this namespace.
    ns = {"__name__": "__main__", "__builtins__": _builtins, "pg": pg, "PgError": PgError, "__pg_result__": None}
    async def main():
        r = eval(co, ns)
        if _asyncio.iscoroutine(r):
            await r
        return ns.get("__pg_result__")
    _run["task"] = _loop.create_task(main())


def _failure(e):
    try:
        message = "".join(_traceback.format_exception(e))
    except BaseException:
        message = repr(e)
    return _json.dumps({"done": True, "error": {"name": type(e).__name__, "message": message[-4000:]}})


def _step():
    """Runs the loop until nothing is ready; answers JSON: done (value or error), or what the driver must wait for."""
    task = _run["task"]
    if task is None:
        return _failure(_run["error"])
    # Pyodide marks its WebLoop as running for good; ours runs for the length of the step.
    previous = _asyncio.events._get_running_loop()
    try:
        _asyncio.events._set_running_loop(_loop)
        try:
            while True:
                _loop._run_once()
                if task.done() or not _loop._ready:
                    break
        finally:
            _asyncio.events._set_running_loop(previous)
    except BaseException as e:  # KeyboardInterrupt and SystemExit leave the loop
        return _failure(e)
    if task.done():
        if task.cancelled():
            return _failure(_asyncio.CancelledError())
        if task.exception() is not None:
            return _failure(task.exception())
        try:
            return _json.dumps({"done": True, "value": task.result()}, default=str)
        except BaseException as e:
            return _failure(e)
    requests = _pending[:]
    del _pending[:]
    wait = None
    if _loop._scheduled:
        wait = max(0.0, _loop._scheduled[0]._when - _loop.time()) * 1000
    return _json.dumps({"done": False, "requests": requests, "waitMs": wait})


def _answer():
    rid, text = _json.loads(_inbox)
    fut = _waiting.pop(rid, None)
    if fut is not None and not fut.done():
        fut.set_result(text)


def _no_sleep(seconds):
    raise RuntimeError("time.sleep() would block the whole isolate (and on Workers the clock stands still while it spins): use await asyncio.sleep(seconds)")


import time as _time
_time.sleep = _no_sleep


def _close_imports():
    # Modules that bridge to JavaScript or write raw memory. Removing them from sys.modules and
    # refusing their import gives a clear ImportError; the boundary itself is module.ts's gate.
    blocked = frozenset({"js", "pyodide_js", "pyodide", "_pyodide", "_pyodide_core", "ctypes", "_ctypes", "micropip"})
    for name in list(_sys.modules):
        if name.partition(".")[0] in blocked:
            del _sys.modules[name]

    # An audit hook cannot be removed once added (PEP 578), unlike a sys.meta_path finder, and it
    # also sees imports that bypass the finders.
    def audit(event, args):
        if event == "import" and str(args[0]).partition(".")[0] in blocked:
            raise ImportError(f"module {args[0]!r} is not available in the sandbox")
        # Hand-made code objects (crafted bytecode) and ctypes are ways to write the interpreter's
        # memory, where the interrupt switch lives.
        if event == "code.__new__" or event.startswith("ctypes."):
            raise RuntimeError(f"{event} is not allowed in the sandbox")
        # Walking the garbage collector finds every object, JavaScript handles included.
        if event in ("gc.get_objects", "gc.get_referrers", "gc.get_referents"):
            raise RuntimeError(f"{event} is not allowed in the sandbox")
    _sys.addaudithook(audit)


_close_imports()
del _close_imports
`;
