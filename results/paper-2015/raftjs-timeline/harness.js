#!/usr/bin/env node
// Virtual-time harness that runs Raft.js's real page code (base.js, local.js,
// rtc.js, chat.js) for N "pages" in one Node process, each page in its own vm
// context (own globals, like a browser page), with an in-process transport
// that delivers every rtcSend after a fixed delay.
//
//   --impl dec2015  : base/local/rtc/chat.js from commit d7fc7aa (== code of
//                     the Dec 2015 data; rtc.js/chat.js are identical at HEAD)
//   --dir patched   : with --impl dec2015, load the 4 files from another folder
//   --impl head     : base.js from HEAD cfd5d61 (2016 class refactor; HEAD's
//                     rtc.js cannot drive it) with a driver that mirrors
//                     rtc.js startRaft + addRemoveServersAsync line by line.
//
// Options: --n 3 --et 1000 --delay 1 --runs 5 --seed 1 --timeline
//          --pollx 0   (collect latency X of the test's poll: sample at s,
//                       report s+X, next sample at s+X+100)
//          --stagger 0 (max random offset in ms of startChat() per page)
//          --jitter 0  (every page timer fires late by U(0,J) ms; models browser timer slop)
'use strict';
var vm = require('vm'), fs = require('fs'), path = require('path');

var argv = process.argv.slice(2), A = {};
for (var i = 0; i < argv.length; i++) {
  if (argv[i].startsWith('--')) {
    var k = argv[i].slice(2), v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) { A[k] = true; } else { A[k] = v; i++; }
  }
}
var N = +(A.n || 3), ET = +(A.et || 1000), DELAY = +(A.delay != null ? A.delay : 1),
    RUNS = +(A.runs || 1), SEED = +(A.seed || 1), TL = !!A.timeline,
    IMPL = A.impl || 'dec2015', POLLX = +(A.pollx || 0), STAGGER = +(A.stagger || 0),
    MAXT = +(A.maxt || 30000), JITTER = +(A.jitter || 0), jrand = null;

function rng(seed) { // mulberry32
  var a = seed >>> 0;
  return function () {
    a |= 0; a = a + 0x6D2B79F5 | 0;
    var t = Math.imul(a ^ a >>> 15, 1 | a);
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
    return ((t ^ t >>> 14) >>> 0) / 4294967296;
  };
}

// ---------------- virtual event loop ----------------
var now, seq, queue, timers;
function resetLoop() { now = 0; seq = 0; queue = []; timers = {}; }
function push(ev) { // binary insert by (t, seq)
  var lo = 0, hi = queue.length;
  while (lo < hi) { var m = (lo + hi) >> 1;
    if (queue[m].t < ev.t || (queue[m].t === ev.t && queue[m].s < ev.s)) lo = m + 1; else hi = m; }
  queue.splice(lo, 0, ev);
}
function vSetTimeout(fn, ms) {
  ms = +ms || 0; if (ms < 0) ms = 0; if (JITTER) ms += jrand() * JITTER;
  var id = ++seq; var ev = {t: now + ms, s: id, fn: fn, id: id};
  timers[id] = ev; push(ev); return id;
}
function vClearTimeout(id) { if (id && timers[id]) { timers[id].dead = true; delete timers[id]; } }
function at(t, fn, label) { var id = ++seq; push({t: t, s: id, fn: fn, label: label}); }

function fmt(t) { return t.toFixed(1).padStart(8); }
var tl = [];
function T() { if (TL) tl.push(fmt(now) + '  ' + Array.prototype.join.call(arguments, ' ')); }

var SRC = {};
function src(rel) { return SRC[rel] || (SRC[rel] = fs.readFileSync(path.join(__dirname, rel), 'utf8')); }

// ---------------- pages ----------------
function ids() { var a = []; for (var i = 0; i < N; i++) a.push('n' + i); return a; }

// Transport: what a PeerJS DataConnection.send does, but delivery after DELAY
function makeConn(fromId, toId, pages) {
  return {peer: toId, send: function (json) {
    var m = JSON.parse(json), rpc = m[0], a = m[2];
    if (rpc === 'appendEntries') {
      T(fromId + '->' + toId, 'AE   prev=' + a.prevLogIndex, 'n=' + a.entries.length,
        'commit=' + a.leaderCommit, 'agree=' + a.curAgreeIndex);
    } else if (rpc === 'appendEntriesResponse') {
      T(fromId + '->' + toId, 'AER  ' + (a.success ? 'OK  ' : 'FAIL'), 'agree=' + a.curAgreeIndex);
    } else { T(fromId + '->' + toId, rpc, JSON.stringify(a)); }
    vSetTimeout(function () { pages[toId].deliver(json); }, DELAY);
  }};
}

function Dec2015Page(id, first, pages, rand) {
  var self = this; this.id = id;
  var el = function () { return {innerHTML: '', href: '', scrollTop: 0, scrollHeight: 0, value: ''}; };
  var VDate = function (x) { return x === undefined ? new Date(now) : new Date(x); };
  VDate.now = function () { return now; };
  var ctx = {
    console: {log: function () { if (TL && A.verbose) T(id, 'LOG', Array.prototype.join.call(arguments, ' ')); },
              warn: function () { T(id, 'WARN', Array.prototype.join.call(arguments, ' ')); },
              error: function () { T(id, 'ERROR', Array.prototype.join.call(arguments, ' ')); }},
    document: {getElementById: el},
    location: {queryParams: {channel: '1', console_logging: 'true', paused: '1'}, search: '', origin: 'http://x',
               pathname: '/chat.html', hash: first ? '#firstServer' : ''},
    setTimeout: vSetTimeout, clearTimeout: vClearTimeout, Date: VDate,
    requestAnimationFrame: function () {},
  };
  ctx.window = ctx;
  vm.createContext(ctx);
  vm.runInContext('Math.random = __r; delete this.__r;', Object.assign(ctx, {__r: rand}));
  ['base.js', 'local.js', 'rtc.js', 'chat.js'].map(function (f) { return (A.dir || 'dec2015') + '/' + f; }).forEach(function (f) {
    vm.runInContext(src(f), ctx, {filename: f});
  });
  // what startRtc leaves behind: nodeId, nodeMap (self first, then peers)
  vm.runInContext('nodeId = "' + id + '"; nodeMap[nodeId] = null; electionTimeout = ' + ET + ';', ctx);
  this.ctx = ctx;
  this.connect = function (peers) { peers.forEach(function (p) { ctx.nodeMap[p] = makeConn(id, p, pages); }); };
  this.deliver = function (json) { ctx.rtcReceive(json); };
  this.start = function () {
    vm.runInContext('startChat()', ctx);
    var node = ctx.node, orig = node.addServer;
    node.addServer = function (args, cb) {
      var sync = true;
      orig(args, function (res) { T(id, (sync ? 'addServer(' + args.newServer + ') -> ' : 'addServer(' + args.newServer + ') done: ') + res.status); cb(res); });
      if (sync) T(id, 'addServer(' + args.newServer + ') called, log len now ' + node._self.log.length);
      sync = false;
    };
  };
  this.info = function () {
    var n = ctx.node; if (!n) return null;
    return {state: n._self.state, keys: Object.keys(n._self.serverMap), log: n._self.log.length,
            commit: n._self.commitIndex, term: n._self.currentTerm};
  };
}

function HeadPage(id, first, pages, rand) {
  // HEAD base.js run as a node module inside its own context
  var ctx = {console: {log: function () {}, warn: function () {}, error: function () {}}, module: {exports: {}},
             setTimeout: vSetTimeout, clearTimeout: vClearTimeout};
  ctx.exports = ctx.module.exports; vm.createContext(ctx);
  vm.runInContext('Math.random = __r; delete this.__r;', Object.assign(ctx, {__r: rand}));
  vm.runInContext(src('base.js'), ctx, {filename: 'base.js'});
  var Base = ctx.module.exports.RaftServerBase;
  var nodeMap = {}; nodeMap[id] = null;
  var node = null;
  this.connect = function (peers) { peers.forEach(function (p) { nodeMap[p] = makeConn(id, p, pages); }); };
  this.deliver = function (json) { if (node) { var r = JSON.parse(json); node[r[0]](r[2]); } };
  function rtcSend(targetId, rpcName, args) {
    var json = JSON.stringify([rpcName, id, args]);
    if (targetId === id) self.deliver(json); else if (nodeMap[targetId]) nodeMap[targetId].send(json);
  }
  var self = this;
  // mirror of rtc.js addRemoveServersAsync (HEAD), using node._serverMap
  function addRemoveServersAsync() {
    var changes = 0;
    if (node && node.state === 'leader') {
      var diff = function (m1, m2, rpc, key) {
        Object.keys(m1).forEach(function (pid) {
          if (!(pid in m2)) { changes += 1; if (changes > 1) return;
            var a = {}; a[key] = pid; var sync = true;
            node[rpc](a, function (res) { T(id, rpc + '(' + pid + ') ' + (sync ? '-> ' : 'done: ') + res.status); });
            if (sync) T(id, rpc + '(' + pid + ') called, log len now ' + node.log.length); sync = false; }
        });
      };
      diff(nodeMap, node._serverMap, 'addServer', 'newServer');
      diff(node._serverMap, nodeMap, 'removeServer', 'oldServer');
    }
    vSetTimeout(addRemoveServersAsync, changes > 1 ? 50 : 100);
  }
  this.start = function () {
    var o = {firstServer: first, electionTimeout: ET, verbose: 0};
    node = Object.create(Base.prototype);
    node.sendRPC = rtcSend;
    node.schedule = function (fn, ms) { return vSetTimeout(fn, ms); };
    node.unschedule = function (t) { return vClearTimeout(t); };
    node.loadFn = function (cb) { cb(false); };
    node.saveFn = function (d, cb) { if (cb) cb(true); };
    node.applyCmd = function () { return null; };
    node.logFn = node.warnFn = node.errorFn = function () {};
    Base.call(node, id, o);
    addRemoveServersAsync();
  };
  this.info = function () {
    if (!node) return null;
    return {state: node.state, keys: Object.keys(node._serverMap), log: node.log.length,
            commit: node.commitIndex, term: node.currentTerm};
  };
}

function upPred(pages, list) {
  var st = {leader: 0, candidate: 0, follower: 0}, tot = 0;
  list.forEach(function (id) { var i = pages[id].info(); if (i) { st[i.state]++; tot += i.keys.length; } });
  return st.leader === 1 && st.candidate === 0 && st.follower === N - 1 && tot === N * N;
}

function runOnce(run) {
  resetLoop(); tl = []; jrand = rng(SEED * 104729 + run);
  var rand = rng(SEED * 1000 + run), list = ids(), pages = {};
  var Page = IMPL === 'head' ? HeadPage : Dec2015Page;
  list.forEach(function (id, i) { pages[id] = new Page(id, i === 0, pages, rng(SEED * 7919 + run * 31 + i)); });
  list.forEach(function (id) { pages[id].connect(list.filter(function (p) { return p !== id; })); });
  // t0 = 0: startChat() broadcast reaches every page (optionally staggered)
  list.forEach(function (id) { at(STAGGER ? rand() * STAGGER : 0, function () { pages[id].start(); T(id, 'startChat()'); }); });
  var upExact = null, upPoll = null, lastSM = {}, lastCommit = {}, polls = 0;
  function poll() { // wait_cluster_up checkfn: sample, report after POLLX, re-arm 100 ms later
    var ok = upPred(pages, list), t = now; polls++;
    if (ok) { upPoll = t + POLLX; return; }
    at(t + POLLX + 100, poll);
  }
  at(0, poll);
  while (queue.length && now <= MAXT && (upPoll === null || upExact === null)) {
    var ev = queue.shift(); if (ev.dead) continue; now = ev.t; if (ev.id) delete timers[ev.id];
    ev.fn();
    list.forEach(function (id) { // serverMap / commit change log
      var i = pages[id].info(); if (!i) return;
      var sm = i.keys.join(','); if (lastSM[id] !== sm) { T(id, 'serverMap = {' + sm + '} (log len ' + i.log + ', state ' + i.state + ')'); lastSM[id] = sm; }
      if (lastCommit[id] !== i.commit) { T(id, 'commitIndex = ' + i.commit); lastCommit[id] = i.commit; }
    });
    if (upExact === null && upPred(pages, list)) { upExact = now; T('*** UP (event-exact)'); }
  }
  return {exact: upExact, poll: upPoll};
}

var res = [];
for (var r = 0; r < RUNS; r++) {
  var o = runOnce(r); res.push(o);
  if (TL && r === 0) console.log(tl.join('\n'));
}
var ex = res.map(function (o) { return o.exact; }), po = res.map(function (o) { return o.poll; });
function stats(a) { var m = a.reduce(function (x, y) { return x + y; }, 0) / a.length;
  return 'mean ' + m.toFixed(1) + ' min ' + Math.min.apply(null, a).toFixed(1) + ' max ' + Math.max.apply(null, a).toFixed(1); }
console.log('impl=' + IMPL + ' N=' + N + ' ET=' + ET + ' hb=' + ET / 5 + ' delay=' + DELAY + ' pollx=' + POLLX +
  ' stagger=' + STAGGER + ' jitter=' + JITTER + ' runs=' + RUNS + ' | exact(ms): ' + stats(ex) + ' | polled(ms): ' + stats(po));
