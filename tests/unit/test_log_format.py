"""One log format: whatever a service process writes (its loggers, a library's own coloured handler, warnings,
prints to stdout and stderr, uncaught exceptions in the main thread, in other threads, unraisable ones, asyncio's)
comes out as one JSON object per line, without ANSI colour."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.support import REPO_ROOT

PROGRAM = textwrap.dedent(
    """
    import asyncio, gc, logging, sys, threading, warnings

    library = logging.getLogger("colourful.lib")  # a library that set itself up before the service did
    library.addHandler(logging.StreamHandler(sys.stderr))
    library.propagate = False

    from services.common.logs import setup_logging

    setup_logging("demo")
    library.warning("\\x1b[32mINFO\\x1b[0m     - padded and coloured")
    logging.getLogger("services.demo").info("plain %s", "record")
    warnings.warn("a deprecation", DeprecationWarning, stacklevel=1)
    print("printed to stdout")
    print("printed to\\nstderr", file=sys.stderr)
    late = logging.StreamHandler()  # a handler made after setup writes to the wrapped stderr
    logging.getLogger("late.lib").addHandler(late)
    logging.getLogger("late.lib").propagate = False
    logging.getLogger("late.lib").error("late handler")
    thread = threading.Thread(target=lambda: 1 / 0, name="worker")
    thread.start()
    thread.join()

    class Leaky:
        def __del__(self):
            raise RuntimeError("in __del__")

    Leaky()
    gc.collect()

    async def main():
        async def boom():
            raise ValueError("task failed")
        task = asyncio.ensure_future(boom())
        await asyncio.sleep(0.01)
        del task
        gc.collect()

    asyncio.run(main())
    raise SystemError("uncaught at the end")
    """
)


def test_every_line_a_process_writes_is_one_json_object() -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-W", "always", "-c", PROGRAM], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1  # the uncaught exception still ends the process as it would
    assert done.stderr == "", done.stderr
    entries = []
    for line in done.stdout.splitlines():
        entry = json.loads(line)  # fails on any line that is not one JSON object
        assert isinstance(entry, dict), line
        assert "\x1b" not in line, line
        assert "\\u001b" not in line, line
        entries.append(entry)
    messages = " | ".join(f"{e['logger']}: {e['message']} {e.get('error', '')}" for e in entries)
    for expected in (
        "colourful.lib: INFO     - padded and coloured",
        "services.demo: plain record",
        "py.warnings:",
        "a deprecation",
        "stdout: printed to stdout",
        "stderr: printed to",
        "stderr: stderr",
        "stderr: late handler",
        "uncaught: uncaught ZeroDivisionError in thread worker",
        "in __del__",
        "task failed",
        "uncaught: uncaught SystemError",
    ):
        assert expected in messages, f"{expected!r} not logged:\n{messages}"
    assert {e["service"] for e in entries} == {"demo"}
