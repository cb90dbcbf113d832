// Turns the drivers' JSON lines into the benchmark tables, the ratios against
// its goals (the Goals table of bench/RESULTS.md), and (with --write) bench/RESULTS.md.
//
//   node bench/report.mjs --results R.jsonl --status S.tsv --machine M.txt
//        --mode full|smoke [--write bench/RESULTS.md] [--rounds N] [--command TEXT]
//        [--baseline LABEL]   (the baseline contender's name in the tables: run.sh's BASELINE)
import { readFileSync, writeFileSync } from 'node:fs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith('--')) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
const read = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};

// A full run measures each configuration several times (run.sh's ROUNDS), the
// contenders taking turns. Each figure reported is the median of its rounds,
// so that one slow moment of a shared machine does not decide a ratio; peaks
// and maxima are the largest of the rounds, and what went wrong (lost events,
// bad answers, dropped clients) is summed, so no round's failure is hidden.
// A configuration none of whose rounds succeeded keeps its first failure.
const SUMMED = ['lost', 'send_failures', 'bad_answers', 'rejects', 'unanswered', 'mismatched',
  'dropped_clients'];
const LARGEST = ['max_us', 'storm_max_us', 'peak_rss_kib', 'app_peak_rss_kib',
  'membrane_peak_rss_kib'];
const median = (values) => {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
function mergeRounds(rows) {
  const groups = new Map();
  for (const r of rows) {
    const key = [r.bench, r.contender, r.connections ?? r.clients, r.writes, r.in_flight].join('\t');
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  return [...groups.values()].map((group) => {
    const ok = group.filter((r) => r.status === 'ok');
    if (ok.length === 0) return group[0];
    const merged = { ...ok[0], rounds: ok.length };
    for (const [field, value] of Object.entries(ok[0])) {
      if (typeof value !== 'number' || !ok.every((r) => typeof r[field] === 'number')) continue;
      const values = ok.map((r) => r[field]);
      if (SUMMED.includes(field)) merged[field] = values.reduce((a, b) => a + b, 0);
      else if (LARGEST.includes(field)) merged[field] = Math.max(...values);
      else merged[field] = median(values);
    }
    return merged;
  });
}
const results = mergeRounds(
  read(args.results)
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line)),
);
const rounds = Number(args.rounds ?? 1);
const status = read(args.status)
  .split('\n')
  .filter((line) => line.trim())
  .map((line) => {
    const [bench, contender, n, state, reason] = line.split('\t');
    return { bench, contender, n: Number(n), state, reason };
  });
const machine = read(args.machine).trim();

const find = (bench, contender, n) =>
  results.find(
    (r) =>
      r.bench === bench &&
      r.contender === contender &&
      (r.connections ?? r.clients) === n &&
      r.status === 'ok',
  );
const why = (bench, contender, n) => {
  const failed = results.find(
    (r) => r.bench === bench && r.contender === contender && (r.connections ?? r.clients) === n,
  );
  if (failed?.reason) return `${failed.status}: ${failed.reason}`;
  const s = status.find((x) => x.bench === bench && x.contender === contender && x.n === n);
  return s ? `${s.state}${s.reason ? ': ' + s.reason : ''}` : 'not run';
};

const fmt = (value, digits = 0) =>
  value === undefined || value === null || Number.isNaN(value)
    ? '–'
    : Number(value).toLocaleString('en-US', {
        minimumFractionDigits: digits,
        maximumFractionDigits: digits,
      });
const mib = (kib) => (kib ? fmt(kib / 1024, 1) : '–');
const ratio = (a, b) => (a !== undefined && b ? a / b : undefined);
const x = (value) => (value === undefined ? '–' : `${fmt(value, 2)}×`);

function table(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

// The baseline contender is the host at an earlier commit (run.sh's BASELINE).
const shown = (contender) => (contender === 'baseline' ? args.baseline ?? 'baseline host' : contender);

// A row per contender and N, or a "not run" row that says why.
function rows(bench, contenders, ns, cells) {
  const out = [];
  for (const n of ns) {
    for (const contender of contenders) {
      const r = find(bench, contender, n);
      if (r) out.push([shown(contender), n, ...cells(r)]);
      else if (status.some((s) => s.bench === bench && s.contender === contender && s.n === n))
        out.push([shown(contender), n, `not run — ${why(bench, contender, n)}`]);
    }
  }
  return out;
}

const sections = [];

// ---- dispatch
sections.push(
  '## 1. Dispatch (the driver plays the membrane)',
  'Each connection: Connect, 1000 Message events of 64 bytes strictly one at a time, ' +
    'Disconnect, again. CPU is utime+stime of the process under test over the measured window ' +
    '(`/proc/<pid>/stat`); the driver’s own CPU (getrusage) is shown so it can be seen not to be ' +
    'the bottleneck — on 2 cores both share the machine. Kernel share and context switches ' +
    '(summed over the threads, `/proc/<pid>/task/*/status`) show where CPU goes besides gRPC.',
  'Two membranes: the first writes each event with a gRPC write of its own (gRPC 1.51 sends each ' +
    'with its own sendmsg); the second batches its writes as grpc-go’s writer does under load ' +
    '(Nitric’s membrane is written in Go): an event with others queued behind it is written with ' +
    'gRPC’s buffer hint, and the transport is flushed when the driver’s completion queue runs ' +
    'empty (`nitric-bench-dispatch --writes batched`). “Events per write” is events written per ' +
    'flush.',
  ...['dispatch', 'dispatch-batched'].flatMap((bench) => [
    `**${bench === 'dispatch' ? 'One write per event' : 'Batched writes (as grpc-go)'}**`,
    table(
      ['contender', 'N', 'events/s', 'p50 µs', 'p99 µs', 'max µs', 'CPU µs/event', 'CPU %',
        'of it kernel %', 'context switches/event', 'peak RSS MiB', 'driver µs/event', 'driver CPU %',
        'events per write'],
      rows(bench, ['host', 'node', 'ceiling'], [1, 100], (r) => [
        fmt(r.events_per_s), fmt(r.p50_us, 1), fmt(r.p99_us, 1), fmt(r.max_us), fmt(r.cpu_us_per_event, 1),
        fmt(r.cpu_pct), fmt(r.sys_pct_of_cpu), fmt(r.context_switches_per_event, 2),
        mib(r.peak_rss_kib), fmt(r.driver_cpu_us_per_event, 1), fmt(r.driver_cpu_pct),
        r.writes_per_flush === undefined ? '–' : fmt(r.writes_per_flush, 1),
      ]),
    ),
  ]),
  'At one connection the host once paid two sendmsg per event where the bare client pays ' +
    'one: it started a stream’s next read before running the event’s handler inline, and gRPC ' +
    '1.51 then wrote the answer and the read’s flow-control update (WINDOW_UPDATE) separately. ' +
    'The read now starts when the handler returns, or at once when the handler blocks and ' +
    'polling passes to another thread (docs/ARCHITECTURE.md#inline-handlers). Measured outside ' +
    'this run (2026-12-03, three interleaved rounds, one write per event): host CPU 30.4 → 24.7 ' +
    'µs per event against the bare client’s 23.7, p50 43.5 → 39.5 µs against its 39.1.',
);

// ---- the floor under every contender
{
  const floor = ['per-message', 'per-read'].map((m) => results.find((r) => r.bench === 'floor' && r.contender === m));
  const rowsFloor = floor.filter(Boolean).map((r) => [
    r.contender === 'per-message' ? 'one send per answer (what gRPC 1.51 does)' : 'one send per read (coalesced)',
    r.in_flight, fmt(r.messages_per_s), fmt(r.cpu_us_per_message, 1), fmt(r.sys_us_per_message, 1),
    fmt(r.driver_cpu_us_per_message, 1),
  ]);
  const ceil = find('dispatch', 'ceiling', 100);
  const perMessage = floor[0];
  sections.push(
    '## 1a. The floor: loopback TCP without gRPC',
    'One TCP connection on 127.0.0.1, 90-byte messages (about one gRPC answer on the wire), the ' +
      'dispatch load’s 100 in flight; the driver sends one message per send, the answerer ' +
      'answers each message it reads with its own send, or all of one read with one send. ' +
      'gRPC 1.51 writes each message of a stream with its own sendmsg, so the first row is the ' +
      'least any contender pays per event here' +
      (ceil && perMessage
        ? ` (the ceiling’s ${fmt(ceil.cpu_us_per_event, 1)} µs/event is ` +
          `${fmt(ceil.cpu_us_per_event / perMessage.cpu_us_per_message, 1)}× it).`
        : '.'),
    rowsFloor.length
      ? table(['answerer', 'in flight', 'messages/s', 'answerer CPU µs/msg', 'of it kernel µs',
          'driver CPU µs/msg'], rowsFloor)
      : `not run — ${why('floor', 'per-message', 100)}`,
  );
}

// ---- memory and start-up
sections.push(
  '## 6. Memory and start-up',
  'Idle: after the streams registered, before any event. Under load: VmHWM at the end of the ' +
    'N=100 dispatch run. Start-up: from fork to the third HandleEvents registration.',
  table(
    ['contender', 'idle RSS MiB', 'peak RSS under load MiB', 'start-up ms'],
    ['host', 'node', 'ceiling'].flatMap((c) => {
      const r = find('dispatch', c, 100) ?? find('dispatch', c, 1);
      return r ? [[c, mib(r.idle_rss_kib), mib(r.peak_rss_kib), fmt(r.startup_ms)]] : [];
    }),
  ),
);

// ---- end to end
sections.push(
  '## 2. End to end (websocket clients → dev gateway → echo)',
  'Real websocket clients (Boost.Beast); each client has one 64-byte message in flight and sends ' +
    'the next when the echo arrives. CPU per message of the app, the dev membrane and the driver.',
  table(
    ['contender', 'clients', 'messages/s', 'p50 µs', 'p99 µs', 'max µs', 'app CPU µs/msg',
      'membrane CPU µs/msg', 'driver CPU µs/msg', 'app peak RSS MiB', 'lost', 'dropped clients'],
    rows('e2e', ['host', 'node'], [1, 50], (r) => [
      fmt(r.messages_per_s), fmt(r.p50_us, 1), fmt(r.p99_us, 1), fmt(r.max_us),
      fmt(r.app_cpu_us_per_unit, 1), fmt(r.membrane_cpu_us_per_unit, 1),
      fmt(r.driver_cpu_us_per_unit, 1), mib(r.app_peak_rss_kib), r.unanswered + r.mismatched,
      r.dropped_clients,
    ]),
  ),
);

// ---- broadcast
sections.push(
  '## 3. Broadcast fan-out (the seed’s chat on the dev membrane)',
  'N clients connected; the first 10 send, each waiting for its own copy before the next; every ' +
    'message goes to every client (KV scan + one SendMessage per connection). Latency: send → own ' +
    'copy. CPU per delivery. The ceiling is `nitric-bench-ceiling --broadcast`: the same chat with ' +
    'nothing but gRPC (connection ids in memory instead of the KV store, every send in flight ' +
    'together on one completion queue, no deadline or metadata per call): the least an app can ' +
    'spend per delivery with one Websocket.SendMessage call per connection, which is what the ' +
    'membrane’s API asks for. ' +
    (args.baseline
      ? `“${args.baseline}” is the host and the broadcast plugin as they were when issue 15 was ` +
        'filed, built by run.sh from git and run on the same membrane and driver in this run.'
      : 'No baseline host ran (run.sh’s BASELINE).'),
  table(
    ['contender', 'clients', 'messages/s', 'deliveries/s', 'p50 µs', 'p99 µs',
      'app CPU µs/delivery', 'membrane CPU µs/delivery', 'app peak RSS MiB', 'connect all ms',
      'dropped clients'],
    rows('broadcast', ['host', 'baseline', 'node', 'ceiling'], [50, 500], (r) => [
      fmt(r.messages_per_s, 1), fmt(r.deliveries_per_s), fmt(r.p50_us), fmt(r.p99_us),
      fmt(r.app_cpu_us_per_unit, 1), fmt(r.membrane_cpu_us_per_unit, 1), mib(r.app_peak_rss_kib),
      fmt(r.connect_ms), r.dropped_clients,
    ]),
  ),
  boundText(),
);

// The broadcast section's closing paragraph: the goal in this run's figures,
// then what was measured outside it.
function boundText() {
  const host = find('broadcast', 'host', 50);
  const base = find('broadcast', 'baseline', 50);
  const ceil = find('broadcast', 'ceiling', 50);
  const inThisRun =
    host && base && ceil
      ? `In this run, at 50 clients, the host spends ${fmt(host.app_cpu_us_per_unit, 1)} µs of CPU ` +
        `per delivery against the ${args.baseline}’s ${fmt(base.app_cpu_us_per_unit, 1)} ` +
        `(${x(ratio(host.app_cpu_us_per_unit, base.app_cpu_us_per_unit))}). Halving that would ` +
        `take it to ${fmt(base.app_cpu_us_per_unit / 2, 1)} µs, where the bare-gRPC ceiling, ` +
        `with no KV scan, no worker threads, no deadline and no metadata, spends ` +
        `${fmt(ceil.app_cpu_us_per_unit, 1)}. `
      : '';
  return (
    '**What bounds the host here.** ' +
    inThisRun +
    'The membrane’s API decides the floor: one unary call per recipient, one answer per call, ' +
    'and gRPC’s per-call cost is most of the ceiling’s CPU. Measured outside this run ' +
    '(2026-12-03, 50 clients, syscall tracepoints and `perf record` on the host): per delivery ' +
    'the ceiling makes 1.06 sendmsg, 0.18 recvmsg, no futex call and 0.05 context switches. ' +
    'The host made 0.81 sendmsg, 0.40 recvmsg, 1.41 futex calls and 1.09 context switches, ' +
    'wake-ups between the handler’s thread and the completion-queue thread. Two changes took ' +
    'most of them away: the KV scan each broadcast starts is read on the completion-queue ' +
    'thread, which wakes the handler once when the stream has ended, where a synchronous reader ' +
    'woke it for every key; and the plugin kit’s `Broadcast` waits for its last send first, so ' +
    'the handler sleeps once for nearly all of its sends. Afterwards 0.33 futex calls and 0.36 ' +
    'context switches per delivery, and 39.9 → 29.9 µs at 50 clients (ceiling 18.8), four ' +
    'interleaved rounds. What is left: the KV scan (50 streamed keys per message, about a tenth ' +
    'of the host’s CPU, which the ceiling does not do), malloc and free (10 % of the host’s ' +
    'CPU against 7 % of the ceiling’s), and the wake-ups of handing each broadcast to a worker ' +
    'and its scan and sends to the polling thread (about 17 futex calls per message). Tried and ' +
    'not kept: holding a handler’s sends until it waits and starting them together on the ' +
    'polling thread, so that their answers pile up as they do for the ceiling. It cut the ' +
    'reads (0.46 → 0.30 per delivery) and context switches (0.33 → 0.25) but gRPC then wrote ' +
    'each send with its own sendmsg (0.73 → 1.08), and the CPU stayed where it was (37.3 and ' +
    '37.8 µs, three interleaved rounds). Earlier changes: the pipelined sends sleep at their ' +
    'bound of 64 until half completed (41.0 → 37.8 µs at 500 clients), and the host keeps ' +
    '32 MiB free per malloc heap instead of trimming at 128 KiB (38.1 → 32.8 µs). Moving the ' +
    'dev membrane to the completion-queue API changed the host’s cost by a few per cent ' +
    '(41.2 and 43.2 µs, 0.20 and 0.28 reads per delivery).'
  );
}

// ---- reload
const reload = results.find((r) => r.bench === 'reload');
let reloadText;
if (!reload) reloadText = `not run — ${why('reload', 'host', 50)}`;
else if (reload.status === 'unsupported')
  reloadText = `reload not supported by this host build: ${reload.reason}`;
else if (reload.status !== 'ok') reloadText = `failed: ${reload.reason}`;
else
  reloadText = table(
    ['window', 'events/s', 'p50 µs', 'p99 µs', 'max µs', 'reloads'],
    [
      ['steady', fmt(reload.events_per_s), fmt(reload.p50_us, 1), fmt(reload.p99_us, 1), fmt(reload.max_us), 0],
      ['one SIGHUP per second', fmt(reload.storm_events_per_s), fmt(reload.storm_p50_us, 1),
        fmt(reload.storm_p99_us, 1), fmt(reload.storm_max_us), reload.reloads],
    ],
  ) + `\n\nEvents lost: ${reload.lost} unanswered, ${reload.send_failures} not deliverable ` +
    `(no stream), ${reload.bad_answers} answered with an unknown or repeated id.`;
sections.push(
  '## 5. Reload cost (host, 50 connections, the dispatch load)',
  'Before each SIGHUP a different build of noop.so is renamed into the plugins folder, so every ' +
    'reload really swaps the plugin.',
  reloadText,
);

// ---- goals
const d = (c, n) => find('dispatch', c, n);
const goals = [];
// met: true, false, undefined (not measured) or null (a reference, no goal).
const goal = (text, measured, met) =>
  goals.push([text, measured,
    met === null ? 'reference' : met === undefined ? 'not measured' : met ? 'met' : '**missed**']);
{
  const host = d('host', 100), node = d('node', 100), ceil = d('ceiling', 100);
  let r = ratio(host?.events_per_s, node?.events_per_s);
  goal('N=100: host events/s ≥ 4× Node', x(r), r === undefined ? undefined : r >= 4);
  r = ratio(host?.events_per_s, ceil?.events_per_s);
  goal('N=100: host events/s ≥ 0.7× ceiling', x(r), r === undefined ? undefined : r >= 0.7);
  goal('N=100: host CPU ≤ 10 µs/event', host ? `${fmt(host.cpu_us_per_event, 1)} µs` : '–',
    host ? host.cpu_us_per_event <= 10 : undefined);
  r = ratio(host?.cpu_us_per_event, node?.cpu_us_per_event);
  goal('N=100: host CPU/event ≤ 1/4 of Node', x(r), r === undefined ? undefined : r <= 0.25);
  const host1 = d('host', 1), node1 = d('node', 1), ceil1 = d('ceiling', 1);
  r = ratio(host1?.p50_us, ceil1?.p50_us);
  goal('N=1: host p50 ≤ 1.5× ceiling p50', x(r), r === undefined ? undefined : r <= 1.5);
  r = ratio(host1?.p50_us, node1?.p50_us);
  goal('N=1: host p50 ≤ 0.5× Node p50', x(r), r === undefined ? undefined : r <= 0.5);
  for (const n of [50, 500]) {
    r = ratio(find('broadcast', 'host', n)?.deliveries_per_s, find('broadcast', 'node', n)?.deliveries_per_s);
    goal(`broadcast N=${n}: host deliveries/s ≥ 4× Node`, x(r), r === undefined ? undefined : r >= 4);
  }
  if (reload?.status === 'ok') {
    goal('reload storm: no event lost', `${reload.lost + reload.send_failures + reload.bad_answers}`,
      reload.lost + reload.send_failures + reload.bad_answers === 0);
    r = ratio(reload.storm_p99_us, reload.p99_us);
    goal('reload storm: p99 ≤ 2× steady p99', x(r), r <= 2);
  } else {
    goal('reload storm: no event lost', reload?.status ?? 'not run', undefined);
    goal('reload storm: p99 ≤ 2× steady p99', reload?.status ?? 'not run', undefined);
  }
  r = ratio(host?.peak_rss_kib, node?.peak_rss_kib);
  goal('peak RSS under load ≤ 1/4 of Node', x(r), r === undefined ? undefined : r <= 0.25);
}
// Issue 15 (performance round 2): against the bare client with both membranes.
for (const [bench, label] of [['dispatch', 'one write per event'], ['dispatch-batched', 'batched writes']]) {
  const host = find(bench, 'host', 100), ceil = find(bench, 'ceiling', 100);
  let r = ratio(host?.cpu_us_per_event, ceil?.cpu_us_per_event);
  goal(`N=100, ${label}: host CPU/event ≤ 1.25× ceiling (issue 15)`, x(r),
    r === undefined ? undefined : r <= 1.25);
  const host1 = find(bench, 'host', 1), ceil1 = find(bench, 'ceiling', 1);
  r = ratio(host1?.p50_us, ceil1?.p50_us);
  goal(`N=1, ${label}: host p50 ≤ 1.3× ceiling p50 (issue 15)`, x(r),
    r === undefined ? undefined : r <= 1.3);
}
// Issue 15: host CPU per broadcast delivery on the dev membrane at least
// halved. The "from 70–99 µs" were single runs on a loaded machine
// (a quieter run later that day, before any of issue 15's changes, measured
// 29.2 µs), so the goal is taken within one run: today's host against the
// host at BASELINE.
for (const n of [50, 500]) {
  const host = find('broadcast', 'host', n);
  const base = find('broadcast', 'baseline', n);
  let r = ratio(host?.app_cpu_us_per_unit, base?.app_cpu_us_per_unit);
  goal(`broadcast N=${n}: host CPU/delivery ≤ ½ of the ${args.baseline ?? 'baseline host'}'s, ` +
    'same run (issue 15)', x(r), r === undefined ? undefined : r <= 0.5);
  goal(`broadcast N=${n}: host CPU/delivery against the issue's 70–99 µs halved (35 µs)`,
    host ? `${fmt(host.app_cpu_us_per_unit, 1)} µs` : '–', null);
  // What bounds it: the bare-gRPC chat in the same run (no goal of its own).
  const ceil = find('broadcast', 'ceiling', n);
  r = ratio(host?.app_cpu_us_per_unit, ceil?.app_cpu_us_per_unit);
  goal(`broadcast N=${n}: host CPU/delivery ÷ the bare-gRPC ceiling's`, x(r), null);
}
const goalsTable = table(['goal', 'measured', 'verdict'], goals);

const failures = status.filter((s) => s.state !== 'ok');
const problems = failures.length
  ? '## Not run or failed\n\n' +
    failures.map((s) => `- ${s.bench} ${s.contender} N=${s.n}: ${why(s.bench, s.contender, s.n)}`).join('\n')
  : '';

const body = [
  '## Goals',
  goalsTable,
  ...sections,
  problems,
].filter(Boolean).join('\n\n');

console.log(`\n# Benchmarks (${args.mode})\n\n${body}\n`);

if (args.write) {
  const md = [
    '# nitric-host benchmark results',
    '',
    'Written by `bench/run.sh` — do not edit by hand; run it again.',
    '',
    `- command: \`${args.command ?? 'bench/run.sh'}\``,
    `- date: ${new Date().toISOString()}`,
    '- machine:',
    '',
    '```',
    machine,
    '```',
    '',
    'Every contender ran in the same run, one after the other, on the same 2 cores as the ' +
      'driver (and, end to end, the dev membrane). On a machine where other sessions are busy ' +
      '(see the load average above) the benchmark gets only its share of the cores — Linux ' +
      'schedules each session as one autogroup, so `nice` does not help — and absolute rates ' +
      'drop and move by tens of per cent between runs; CPU per event and the ratios move less.' +
      (rounds > 1
        ? ` Each dispatch, end-to-end and broadcast figure is the median of ${rounds} rounds, ` +
          'the contenders taking turns within each configuration (peaks and maxima: the ' +
          'largest; lost, failed and dropped: the sum over the rounds); the floor and the ' +
          'reload storm ran once.'
        : ''),
    '',
    body,
    '',
  ].join('\n');
  writeFileSync(args.write, md);
  console.log(`wrote ${args.write}`);
}
