#!/usr/bin/env python3
"""runnable.py SECS: samples the host's runnable task count (/proc/loadavg) every 5 ms for SECS
seconds and prints its mean by 50 ms phase of the monotonic clock's second."""
import collections, sys, time

samples, end = [], time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    with open('/proc/loadavg') as f:
        samples.append((time.monotonic(), int(f.read().split()[3].split('/')[0])))
    time.sleep(0.005)
by_phase = collections.defaultdict(list)
for t, r in samples:
    by_phase[int((t % 1.0) * 20) * 50].append(r)
print(' '.join(f"{ms}:{sum(v) / len(v):.0f}" for ms, v in sorted(by_phase.items())))
