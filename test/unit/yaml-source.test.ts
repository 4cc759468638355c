// YAML with positions: the value, and where in the text each path is, so that errors found
// after parsing (schema, cross-checks) still name the line and column to edit.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatPath, formatSourceError, parseYaml, type SourceError, type YamlDocument } from '../../daemon/lib/yaml-source.ts';

function doc(text: string): YamlDocument {
  const r = parseYaml('f.yaml', text);
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatSourceError).join('\n'));
  return r.doc;
}

function fails(text: string): SourceError {
  const r = parseYaml('f.yaml', text);
  assert.ok(!r.ok, `accepted: ${JSON.stringify(text)}`);
  assert.equal(r.errors.length, 1);
  return r.errors[0]!;
}

const at = (d: YamlDocument, path: (string | number)[], key = false): string => {
  const { line, col } = d.locate(path, key);
  return `${line}:${col}`;
};

const SAMPLE = `# a comment
machines:
  - name: m1
    macs: ["52:54:00:00:00:01", '52:54:00:00:00:02']
    bmc:
      driver: ipmi
      address: 192.0.2.10
  - { name: m2, role: worker, labels: { "rack position": r2 } }
`;

describe('parseYaml: values', () => {
  test('parses the document with the YAML 1.2 core schema', () => {
    const d = doc('a: 1\nb: 1.5\nc: true\nd: ~\ne: "1"\nf: 0x10\ng: 2024-01-01\nh: 52:54:00:00:00:01\n');
    assert.deepEqual(d.value, { a: 1, b: 1.5, c: true, d: null, e: '1', f: 16, g: '2024-01-01', h: '52:54:00:00:00:01' });
  });

  test('an empty file, a comment-only file and a bare "---" are a null document', () => {
    for (const t of ['', '\n', '# nothing here\n', '---\n', '   \n\n']) {
      const d = doc(t);
      assert.equal(d.value, null, JSON.stringify(t));
      assert.deepEqual(d.locate(['anything']), { line: 1, col: 1 });
    }
  });

  test('keys such as __proto__ and constructor are ordinary data', () => {
    const d = doc('__proto__: { polluted: true }\nconstructor: x\n');
    assert.deepEqual(Object.keys(d.value as object), ['__proto__', 'constructor']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(at(d, ['constructor'], true), '2:1');
  });
});

describe('parseYaml: locate', () => {
  const d = doc(SAMPLE);

  test('values, keys and list entries, block and flow', () => {
    assert.equal(at(d, ['machines']), '3:3');
    assert.equal(at(d, ['machines'], true), '2:1');
    assert.equal(at(d, ['machines', 0]), '3:5');
    assert.equal(at(d, ['machines', 0, 'name']), '3:11');
    assert.equal(at(d, ['machines', 0, 'name'], true), '3:5');
    assert.equal(at(d, ['machines', 0, 'bmc', 'address']), '7:16');
    assert.equal(at(d, ['machines', 1]), '8:5');
    assert.equal(at(d, ['machines', 1, 'role']), '8:23');
    assert.equal(at(d, ['machines', 1, 'role'], true), '8:17');
  });

  test('quoted scalars and quoted keys point at the opening quote', () => {
    assert.equal(at(d, ['machines', 0, 'macs', 0]), '4:12');
    assert.equal(at(d, ['machines', 0, 'macs', 1]), '4:33');
    assert.equal(at(d, ['machines', 1, 'labels', 'rack position'], true), '8:41');
    assert.equal(at(d, ['machines', 1, 'labels', 'rack position']), '8:58');
  });

  test('a missing path falls back to its nearest existing ancestor', () => {
    assert.equal(at(d, ['machines', 0, 'role']), '3:5', 'missing key: the mapping');
    assert.equal(at(d, ['machines', 5, 'name']), '3:3', 'index past the end: the list');
    assert.equal(at(d, ['machines', 0, 'name', 'deeper']), '3:11', 'below a scalar: the scalar');
    assert.equal(at(d, ['nope', 'deeper']), '2:1', 'missing at the top: the root mapping');
    assert.equal(at(d, ['machines', 'x']), '3:3', 'a name where an index belongs: the list');
    assert.equal(at(d, []), '2:1');
  });

  test('an empty value has no position of its own: its key is used', () => {
    const e = doc('profiles: []\nmachines:\nclusters:\n  - name:\n');
    assert.equal(at(e, ['machines']), '2:1');
    assert.equal(at(e, ['clusters', 0, 'name']), '4:5');
  });

  test('an empty list entry points at its list', () => {
    const e = doc('list:\n  - a\n  -\n');
    assert.equal(at(e, ['list', 1]), '2:3');
  });

  test('anchors and tags: the node starts at the & or the !', () => {
    assert.equal(at(doc('a: &x 1\n'), ['a']), '1:4');
    assert.equal(at(doc('a: !!str 5\n'), ['a']), '1:4');
  });

  test('explicit keys, block scalars, and a document start marker', () => {
    assert.equal(at(doc('? a\n: 1\n'), ['a'], true), '1:3');
    assert.equal(at(doc('---\na: 1\n'), ['a']), '2:4');
    assert.equal(at(doc('a: |\n  text\n'), ['a']), '2:1');
  });

  test('numeric and boolean keys are found by their text', () => {
    const e = doc('1: a\ntrue: b\n');
    assert.deepEqual(e.value, { 1: 'a', true: 'b' });
    assert.equal(at(e, ['1'], true), '1:1');
    assert.equal(at(e, ['true']), '2:7');
  });

  test('CRLF line endings count one line per CRLF', () => {
    const e = doc(SAMPLE.replace(/\n/g, '\r\n'));
    assert.equal(at(e, ['machines', 0, 'bmc', 'address']), '7:16');
    assert.equal(at(e, ['machines', 1, 'role']), '8:23');
  });

  test('a lone CR is a line break too, as the parser counts it', () => {
    const e = doc(SAMPLE.replace(/\n/g, '\r'));
    assert.equal(at(e, ['machines', 0, 'bmc', 'address']), '7:16');
    const err = fails('a: 1\rb: [\r');
    assert.equal(err.line, 3);
  });

  test('a tab after a key counts as one column', () => {
    const e = doc('a:\tvalue\n');
    assert.equal(e.locate(['a']).col, 4);
  });

  test('a byte-order mark is not a column', () => {
    const e = doc('\uFEFFa: 1\nb: 2\n');
    assert.equal(at(e, ['a'], true), '1:1');
    assert.equal(at(e, ['a']), '1:4');
    assert.equal(at(e, ['b']), '2:4');
    assert.deepEqual(pos(fails('\uFEFFa: b: c\n')), pos(fails('a: b: c\n')));
  });

  test('locating many paths in a large document stays linear', () => {
    const n = 20_000;
    const big = doc('items:\n' + Array.from({ length: n }, (_, i) => `  - { name: n${i}, v: ${i} }\n`).join(''));
    const started = performance.now();
    for (let i = 0; i < n; i++) assert.equal(big.locate(['items', i, 'v']).line, i + 2);
    // Quadratic lookup (a walk over the event stream per path) takes tens of seconds here.
    assert.ok(performance.now() - started < 5000, `${Math.round(performance.now() - started)} ms`);
  });

  test('error() builds a SourceError with the path spelt as in the reference', () => {
    assert.deepEqual(d.error(['machines', 0, 'bmc', 'address'], 'bad'), { file: 'f.yaml', line: 7, col: 16, path: 'machines[0].bmc.address', message: 'bad' });
    assert.deepEqual(d.error(['machines', 1, 'labels', 'rack position'], 'bad key', true), {
      file: 'f.yaml',
      line: 8,
      col: 41,
      path: 'machines[1].labels["rack position"]',
      message: 'bad key',
    });
  });
});

function pos(e: SourceError): string {
  return `${e.line}:${e.col}`;
}

describe('parseYaml: refused input', () => {
  test('a syntax error is one error with the parser position and no path', () => {
    const e = fails('machines:\n  - name: m1\n   role: worker\n');
    assert.deepEqual({ ...e, message: e.message.split(':')[0] }, { file: 'f.yaml', line: 3, col: 4, path: '', message: 'YAML syntax' });
    assert.match(e.message, /^YAML syntax: bad indentation/);
  });

  test('unterminated flow collections and quotes', () => {
    assert.match(fails('a: [1, 2\n').message, /^YAML syntax: /);
    assert.match(fails('a: {b: 1\n').message, /^YAML syntax: /);
    assert.match(fails('a: "open\n').message, /^YAML syntax: /);
  });

  test('a duplicate key is refused at the second occurrence', () => {
    const e = fails('a: 1\nb: 2\na: 3\n');
    assert.equal(pos(e), '3:1');
    assert.match(e.message, /duplicated mapping key/);
  });

  test('tabs used for indentation', () => {
    const e = fails('a:\n\tb: 1\n');
    assert.equal(pos(e), '2:1');
    assert.match(e.message, /tab characters must not be used in indentation/);
  });

  test('aliases are refused at the first one, anchors alone are fine', () => {
    const e = fails('a: &x { b: 1 }\nc: *x\nd: *x\n');
    assert.equal(pos(e), '2:4');
    assert.equal(e.message, 'YAML syntax: aliases (*name) are not allowed in this file; write the value out in full');
    doc('a: &x { b: 1 }\n');
  });

  test('a billion-laughs document is refused without expanding it', () => {
    let t = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
    for (let i = 1; i < 10; i++) t += `a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]\n`;
    const started = performance.now();
    assert.match(fails(t).message, /aliases/);
    assert.ok(performance.now() - started < 1000);
  });

  test('nesting beyond the limit is a clear error, not a stack overflow', () => {
    for (const t of [
      'a: ' + '['.repeat(100) + ']'.repeat(100) + '\n',
      '{'.repeat(100_000),
      Array.from({ length: 200 }, (_, i) => ' '.repeat(i * 2) + 'k:').join('\n') + '\n',
      Array.from({ length: 200 }, (_, i) => ' '.repeat(i * 2) + '-').join('\n') + '\n',
    ]) {
      const e = fails(t);
      assert.equal(e.message, 'YAML syntax: nested deeper than 64 levels', t.slice(0, 40));
    }
    // Up to the limit is fine.
    doc('a: ' + '['.repeat(60) + ']'.repeat(60) + '\n');
  });

  test('more than one document: at the second one, or at its "---" when it is empty', () => {
    assert.equal(fails('a: 1\n---\nb: 2\n').message, 'more than one YAML document; keep one per file');
    assert.equal(pos(fails('a: 1\n---\nb: 2\n')), '3:1');
    assert.equal(pos(fails('a: 1\n...\n---\nb: 2\n')), '4:1');
    assert.equal(pos(fails('a: 1\n---\n')), '2:1');
    assert.equal(pos(fails('a: 1\n--- # next\n...\n')), '2:1');
    // An explicit end marker alone is still one document.
    assert.deepEqual(doc('a: 1\n...\n').value, { a: 1 });
  });

  test('bytes that were not UTF-8 (decoded to U+FFFD) are refused where they are', () => {
    const text = Buffer.from('a: 1\nb: "M\xe9xico"\n', 'latin1').toString('utf8');
    const e = fails(text);
    assert.equal(pos(e), '2:6');
    assert.match(e.message, /not valid UTF-8/);
  });

  test('control characters and unknown tags are refused', () => {
    assert.match(fails('a: "\x00"\n').message, /^YAML syntax: /);
    assert.match(fails('a: \x07\n').message, /^YAML syntax: /);
    assert.match(fails('a: !include other.yaml\n').message, /^YAML syntax: unknown .*tag/);
    assert.match(fails('a: !!binary aGVsbG8=\n').message, /^YAML syntax: unknown .*tag/);
    assert.match(fails('a: !!js/function "x"\n').message, /^YAML syntax: /);
  });

  test('complex (non-scalar) keys are refused', () => {
    assert.match(fails('? [a, b]\n: c\n').message, /^YAML syntax: /);
  });

  test('input split at every offset never throws: an error or a document, nothing else', () => {
    for (let i = 0; i <= SAMPLE.length; i++) {
      const r = parseYaml('f.yaml', SAMPLE.slice(0, i));
      if (!r.ok) for (const e of r.errors) assert.ok(e.line >= 1 && e.col >= 1, JSON.stringify(e));
      else r.doc.locate(['machines', 1, 'labels', 'rack position']);
    }
  });
});

describe('formatPath and formatSourceError', () => {
  test('identifiers dotted, indexes bracketed, anything else quoted', () => {
    assert.equal(formatPath([]), '');
    assert.equal(formatPath(['machines', 3, 'bmc', 'address']), 'machines[3].bmc.address');
    assert.equal(formatPath([0, 'a']), '[0].a');
    assert.equal(formatPath(['labels', 'topology.kubernetes.io/zone']), 'labels["topology.kubernetes.io/zone"]');
    assert.equal(formatPath(['labels', 'a b', 'c']), 'labels["a b"].c');
    assert.equal(formatPath(['1']), '["1"]');
    assert.equal(formatPath(['x-y_z']), 'x-y_z');
  });

  test('FILE:LINE:COL path: message, (root) for the empty path', () => {
    assert.equal(formatSourceError({ file: 'inv.yaml', line: 3, col: 7, path: 'machines[0].name', message: 'bad' }), 'inv.yaml:3:7 machines[0].name: bad');
    assert.equal(formatSourceError({ file: 'inv.yaml', line: 1, col: 1, path: '', message: 'empty' }), 'inv.yaml:1:1 (root): empty');
  });
});
