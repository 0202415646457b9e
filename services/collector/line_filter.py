"""Filtering fetched log lines by a caller's regular expression within a time budget."""

import asyncio
import json
import re
import sys

from services.collector.safe_pattern import pattern_shape


class PatternTimeout(Exception):
    """The pattern did not finish on the fetched lines within the budget."""


# Runs in a child interpreter, so that a pattern that takes too long can be killed.
_FILTER_PROGRAM = (
    "import json, re, sys\n"
    "request = json.load(sys.stdin)\n"
    "pattern = re.compile(request['pattern'])\n"
    "json.dump([i for i, line in enumerate(request['lines']) if pattern.search(line)], sys.stdout)\n"
)


async def filter_lines(pattern: str, lines: list[str], *, budget: float) -> list[str]:
    """Return the lines that ``pattern`` matches, or raise ``PatternTimeout`` after ``budget`` seconds.

    A pattern without repeats runs in this process, because it takes time linear in the line
    length. Others run in a child interpreter that is killed when the budget runs out.
    """
    if pattern_shape(pattern).repeats == 0:
        compiled = re.compile(pattern)
        return [line for line in lines if compiled.search(line)]

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-S",
        "-c",
        _FILTER_PROGRAM,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    payload = json.dumps({"pattern": pattern, "lines": lines}).encode()
    try:
        output, _ = await asyncio.wait_for(process.communicate(payload), timeout=budget)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise PatternTimeout() from None
    if process.returncode != 0:
        raise PatternTimeout()
    return [lines[index] for index in json.loads(output)]
