#!/usr/bin/env python3
"""events.py DIR N SECS: subscribes to nodes n0..n(N-1) at DIR/n<i>.sock from their launch and
prints their role, term, leader, membership and link events as JSON lines for SECS seconds."""
import json, selectors, socket, sys, time

d, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
KEEP = {'role_changed', 'term_changed', 'leader_changed', 'configuration_applied', 'peer_up', 'peer_down'}
sel, pending, bufs = selectors.DefaultSelector(), set(range(n)), {}
start = time.time()
while time.time() - start < secs:
    for i in list(pending):  # a node's socket appears once it has started
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(f"{d}/n{i}.sock")
            s.sendall(b'{"cmd":"subscribe","from_launch":true}\n')
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
            bufs[i] = b''
            pending.discard(i)
        except OSError:
            pass
    for key, _ in sel.select(timeout=0.2):
        i = key.data
        try:
            chunk = key.fileobj.recv(1 << 20)
        except BlockingIOError:
            continue
        if not chunk:
            sel.unregister(key.fileobj)
            continue
        *lines, bufs[i] = (bufs[i] + chunk).split(b'\n')
        for line in lines:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get('event') in KEEP:
                e['node'] = i
                if e['event'] == 'configuration_applied':
                    e['members'] = len(e.get('members', []))
                print(json.dumps(e))
