// The runbook file format: a valid runbook loads; every kind of mistake is reported with
// FILE:LINE:COL, all in one go; and values substituted into commands stay literal words when
// a real shell runs them — the hostile parameter included.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { formatSourceError } from '../../daemon/lib/yaml-source.ts';
import { loadRunbook } from '../../daemon/ssh/runbook/load.ts';
import { evaluate, parseCondition, shellQuote, substitute } from '../../daemon/ssh/runbook/quote.ts';

const GOOD = `name: rotate-config
description: Replace a config file and restart its service
parameters:
  service: { type: string, required: true }
  restart: { type: boolean, default: true }
  mode: { type: string, default: fast, enum: [fast, safe] }
target:
  roles: [kvm-host]
  states: [ready]
steps:
  - name: current version
    run: cat /etc/\${service}.version
    capture: version
  - name: restart
    run: systemctl restart \${service}
    when: restart
    timeout: 60
    expect: [0, 3]
    retries: 2
    retryDelay: 5
    sudo: true
  - name: report
    script: |
      echo "was \${version}"
      echo done
    when: mode == 'safe'
    continueOnError: true
`;

describe('runbook format', () => {
  test('a valid runbook loads', () => {
    const r = loadRunbook('rotate.yaml', GOOD);
    assert.ok(r.ok, r.ok ? '' : r.errors.map(formatSourceError).join('\n'));
    assert.equal(r.runbook.steps.length, 3);
  });

  test('every mistake at once, each at its line and column', () => {
    const bad = `name: Bad_Name
description: x
parameters:
  count: { type: integer, default: three }
  who: { type: string, required: true, default: me }
steps:
  - name: both
    run: echo \${nope}
    script: echo
  - name: neither
  - name: cond
    run: echo \${count}
    when: count > 3
  - name: dup
    run: echo
    capture: count
  - name: typo
    rn: echo
`;
    const r = loadRunbook('bad.yaml', bad);
    assert.ok(!r.ok);
    const lines = r.errors.map(formatSourceError);
    const expect = [
      /^bad\.yaml:1:7 name: a runbook name is a DNS label/,
      /^bad\.yaml:4:36 parameters\.count\.default: the default is not an integer/,
      /^bad\.yaml:5:34 parameters\.who\.required: a required parameter cannot have a default/,
      /^bad\.yaml:7:5 steps\[0\]: a step has exactly one of run/,
      /^bad\.yaml:8:10 steps\[0\]\.run: \$\{nope\} is no parameter/,
      /^bad\.yaml:10:5 steps\[1\]: a step has exactly one of run/,
      /^bad\.yaml:13:11 steps\[2\]\.when: a condition is NAME/,
      /^bad\.yaml:16:14 steps\[3\]\.capture: count is already a parameter/,
      /^bad\.yaml:18:5 steps\[4\]\.rn: unknown field \(did you mean "run"\?\)/,
    ];
    for (const re of expect) assert.ok(lines.some((l) => re.test(l)), `${String(re)} not in:\n${lines.join('\n')}`);
  });

  test('a hostile parameter stays one literal word in a real shell', () => {
    const hostile = `"; rm -rf / #`;
    const tricky = [hostile, "it's", '$(reboot)', '`id`', 'a b\tc\nd', '', '\\', "'"];
    for (const v of tricky) {
      const cmd = substitute('printf "%s|" ${v}', new Map([['v', v]]));
      assert.equal(execFileSync('sh', ['-c', cmd], { encoding: 'utf8' }), `${v}|`, cmd);
    }
    assert.equal(shellQuote(hostile), `'"; rm -rf / #'`);
  });

  test('conditions: names, negation, comparisons with quoted text', () => {
    const v = new Map([['restart', 'true'], ['mode', "it's safe"], ['empty', ''], ['zero', '0']]);
    const t = (s: string): boolean => evaluate(parseCondition(s)!, v);
    assert.deepEqual([t('restart'), t('!restart'), t('empty'), t('zero'), t('!missing')], [true, false, false, false, true]);
    assert.deepEqual([t("mode == 'it\\'s safe'"), t("mode != 'fast'"), t("mode == 'fast'")], [true, true, false]);
    assert.equal(parseCondition('mode = fast'), undefined);
    assert.deepEqual(parseCondition("probe.exit != '0'"), { name: 'probe.exit', op: '!=', value: '0' });
    assert.deepEqual(parseCondition('!probe.ok'), { name: 'probe.ok', op: 'falsy' });
    assert.equal(parseCondition('probe.stdout'), undefined);
  });

  test("conditions on an earlier step's result: CAPTURE.ok and CAPTURE.exit, only for captures that come before", () => {
    const text = `name: results
description: x
parameters:
  force: { type: boolean, default: false }
steps:
  - name: probe
    run: command -v virsh
    capture: probe
    continueOnError: true
  - name: install
    run: apt-get install -y libvirt-daemon-system
    when: '!probe.ok'
  - name: odd exit
    run: echo odd
    when: "probe.exit == '127'"
  - name: param result
    run: echo no
    when: force.ok
  - name: later
    run: echo no
    when: after.exit
  - name: after
    run: echo
    capture: after
`;
    const r = loadRunbook('results.yaml', text);
    assert.ok(!r.ok);
    assert.deepEqual(
      r.errors.map(formatSourceError),
      [
        "results.yaml:18:11 steps[3].when: force.ok: force is no earlier step's capture (.ok and .exit are a captured step's result)",
        "results.yaml:21:11 steps[4].when: after.exit: after is no earlier step's capture (.ok and .exit are a captured step's result)",
      ],
    );
    assert.ok(loadRunbook('results.yaml', text.split('  - name: param result')[0]!).ok);
  });
});
