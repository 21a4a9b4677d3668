"""`cloudpane audit`: the local trail of exposing actions, newest last.

cloudpane audit            # a table: when, who, action, target, outcome
cloudpane audit --json     # the records as JSON lines (for jq or a SIEM)

A target is a name someone else chose (an object's name): every field is shown through
`visible` (tui/inert.py), so a name cannot move the cursor back over the action column, forge
a line, or write to the terminal. `--json` is exact JSON in ASCII (non-ASCII as \\uXXXX), so a
bidi override or a C1 control in a name is escaped there too.
"""

from __future__ import annotations

import argparse
import json
import sys

from tui.inert import visible
from tui.services.audit import audit_path, read_entries


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON record per line")
    parser.add_argument("--last", type=int, default=0, metavar="N", help="only the last N")


def run_audit(args: argparse.Namespace) -> int:
    path = audit_path()
    try:
        entries = read_entries(path)
    except (OSError, ValueError) as exc:
        print(
            f"cloudpane: cannot read the audit log {visible(path)}: {visible(exc)}",
            file=sys.stderr,
        )
        return 2
    if args.last > 0:
        entries = entries[-args.last :]
    if args.json:
        for entry in entries:
            print(json.dumps(entry, ensure_ascii=True))
        return 0
    if not entries:
        print(f"Nothing made public or shared yet (audit log: {visible(path)}).")
        return 0
    print(f"{'when (UTC)':<26}{'who':<28}{'action':<22}{'outcome':<12}target")
    for e in entries:
        outcome = visible(e.get("outcome", ""))
        short = "failed" if outcome.startswith("failed") else outcome
        print(
            f"{visible(e.get('time', ''))[:25]:<26}{visible(e.get('who', ''))[:27]:<28}"
            f"{visible(e.get('action', '')):<22}{short:<12}{visible(e.get('target', ''))}"
        )
    print(f"\n{len(entries)} records in {visible(path)}")
    return 0
