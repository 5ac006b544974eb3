#!/usr/bin/env python3
"""summary.py SECS EVENTS.jsonl...: per storm run of SECS seconds, how elections went (storm.sh)."""
import gzip, json, sys

secs = float(sys.argv[1])
for path in sys.argv[2:]:
    lines = (gzip.open if path.endswith('.gz') else open)(path, 'rt')
    ev = sorted((json.loads(l) for l in lines), key=lambda e: e['t_ns'])
    t0 = ev[0]['t_ns']
    end = secs  # t0 is the first event, a moment after the nodes' launch
    leading, tenures, pre_late, leaders = {}, [], 0, 0
    for e in ev:
        t = (e['t_ns'] - t0) / 1e9
        if e['event'] != 'role_changed':
            continue
        if e['role'] == 'leader':
            leaders += 1
            leading[e['node']] = t
        elif e['node'] in leading:
            tenures.append(t - leading.pop(e['node']))
        if e['role'] == 'pre_candidate' and 30 <= t < end:
            pre_late += 1
    tenures += [end - t for t in leading.values()]
    held = max((end - t for t in leading.values()), default=0)
    print(f"{path}: {leaders} leaders elected; longest tenure {max(tenures, default=0):.1f} s; "
          f"leader at the end held {held:.1f} s; pre-candidacies from 30 s on: {pre_late} "
          f"({pre_late / max(end - 30, 1):.1f}/s)")
