// ajv over TypeBox schemas, with errors as paths and messages in the operator's words.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Type } from 'typebox';
import { closest, compileChecker, type PathIssue } from '../../daemon/lib/schema-check.ts';
import { BmcSchema, MachineSchema } from '../../inventory/schema.ts';

const Sample = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z]+$', errorMessage: 'a name is lower-case letters' }),
    code: Type.Optional(Type.String({ pattern: '^[0-9]+$' })),
    email: Type.Optional(Type.String({ format: 'email' })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    mode: Type.Optional(Type.Enum(['a', 'b'])),
    fixed: Type.Optional(Type.Literal('x')),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 3 }), { minItems: 1, maxItems: 2 })),
    pair: Type.Optional(Type.Array(Type.Integer(), { minItems: 2 })),
    nested: Type.Optional(Type.Object({ deep: Type.Object({ leaf: Type.Boolean() }, { additionalProperties: false }) }, { additionalProperties: false })),
    map: Type.Optional(Type.Record(Type.String({ pattern: '^[a-z]+$' }), Type.Integer(), { additionalProperties: false, errorMessage: 'keys are lower-case letters' })),
    list: Type.Optional(Type.Array(Type.Object({ id: Type.Integer() }))),
  },
  { additionalProperties: false },
);

const check = compileChecker(Sample);
const issues = (v: unknown): [string, string, boolean?][] =>
  check(v).map((i: PathIssue) => (i.atKey ? [i.path.join('.'), i.message, true] : [i.path.join('.'), i.message]));

describe('compileChecker', () => {
  test('a valid value has no issues', () => {
    assert.deepEqual(check({ name: 'ok', port: 80, tags: ['a'], nested: { deep: { leaf: true } }, map: { a: 1 }, list: [{ id: 1 }] }), []);
  });

  test('types are named as YAML names them: mapping, list', () => {
    assert.deepEqual(issues([]), [['', 'must be a mapping, got a list']]);
    assert.deepEqual(issues('text'), [['', 'must be a mapping, got string "text"']]);
    assert.deepEqual(issues(null), [['', 'must be a mapping, got nothing (null)']]);
    assert.deepEqual(issues({ name: 'a', tags: { a: 1 } }), [['tags', 'must be a list, got a mapping']]);
    assert.deepEqual(issues({ name: 'a', port: '80' }), [['port', 'must be an integer, got string "80"']]);
    assert.deepEqual(issues({ name: 'a', port: 1.5 }), [['port', 'must be an integer, got number 1.5']]);
    assert.deepEqual(issues({ name: 'a', nested: { deep: { leaf: 'yes' } } }), [['nested.deep.leaf', 'must be a boolean, got string "yes"']]);
  });

  test('a missing required field is reported at its own path', () => {
    assert.deepEqual(issues({}), [['name', 'required field is missing']]);
    assert.deepEqual(issues({ name: 'a', nested: { deep: {} } }), [['nested.deep.leaf', 'required field is missing']]);
  });

  test('an unknown field points at its key and suggests the field probably meant', () => {
    assert.deepEqual(issues({ name: 'a', prot: 1 }), [['prot', 'unknown field (did you mean "port"?)', true]]);
    assert.deepEqual(issues({ name: 'a', Mode: 'a' }), [['Mode', 'unknown field (did you mean "mode"?)', true]]);
    assert.deepEqual(issues({ name: 'a', whatever: 1 }), [['whatever', 'unknown field', true]]);
    assert.deepEqual(issues({ name: 'a', nested: { deep: { leaf: true, lef: false } } }), [['nested.deep.lef', 'unknown field (did you mean "leaf"?)', true]]);
  });

  test('a free-form map with a key pattern says what a key must look like', () => {
    assert.deepEqual(issues({ name: 'a', map: { ok: 1, 'Not OK': 2 } }), [['map.Not OK', 'keys are lower-case letters', true]]);
  });

  test('enum, const, pattern and format', () => {
    assert.deepEqual(issues({ name: 'a', mode: 'c' }), [['mode', 'must be one of "a", "b", got "c"']]);
    assert.deepEqual(issues({ name: 'a', fixed: 'y' }), [['fixed', 'must be "x"']]);
    assert.deepEqual(issues({ name: 'A' }), [['name', 'a name is lower-case letters']]);
    assert.deepEqual(issues({ name: 'a', code: 'x1' }), [['code', '"x1" is not a valid value']]);
    assert.deepEqual(issues({ name: 'a', email: 'nope' }), [['email', '"nope" is not a valid email']]);
  });

  test('lengths and counts in words', () => {
    assert.deepEqual(issues({ name: 'a', tags: [] }), [['tags', 'must list at least one entry']]);
    assert.deepEqual(issues({ name: 'a', tags: ['a', 'b', 'c'] }), [['tags', 'must list at most 2 entries']]);
    assert.deepEqual(issues({ name: 'a', pair: [1] }), [['pair', 'must list at least 2 entries']]);
    assert.deepEqual(issues({ name: 'a', tags: [''] }), [['tags.0', 'must not be empty']]);
    assert.deepEqual(issues({ name: 'a', tags: ['abcd'] }), [['tags.0', 'must be at most 3 characters long']]);
    assert.deepEqual(issues({ name: 'a', port: 0 }), [['port', 'must be >= 1']]);
    assert.deepEqual(issues({ name: 'a', port: 65536 }), [['port', 'must be <= 65535']]);
  });

  test('every problem in one run, each once', () => {
    const all = issues({ name: 'A', port: 'x', mode: 'c', extra: 1, tags: [] });
    assert.deepEqual(all.map((i) => i[0]).sort(), ['extra', 'mode', 'name', 'port', 'tags']);
    assert.equal(new Set(all.map((i) => `${i[0]}|${i[1]}`)).size, all.length);
  });

  test('list indexes are numbers; mapping keys stay strings even when they look like numbers', () => {
    const [i] = check({ name: 'a', list: [{ id: 1 }, { id: 'x' }] });
    assert.deepEqual(i?.path, ['list', 1, 'id']);
    const [j] = check({ name: 'a', map: { '1': 1 } });
    assert.deepEqual(j?.path, ['map', '1']);
  });

  test('keys with "/" and "~" survive the JSON Pointer round trip', () => {
    const [i] = check({ name: 'a', map: { 'a/b~c': 1 } });
    assert.deepEqual(i?.path, ['map', 'a/b~c']);
  });
});

describe('the inventory schemas', () => {
  const machine = compileChecker(MachineSchema);
  const bmc = compileChecker(BmcSchema);

  test('label keys outside the pattern are refused, not ignored', () => {
    const r = machine({ name: 'm1', macs: ['x'], role: 'worker', labels: { 'rack position': 'r1', ok: 'y' } });
    assert.deepEqual(r, [{ path: ['labels', 'rack position'], atKey: true, message: "a label key is 1-63 letters, digits, '_', '.', '/' or '-', starting with a letter or digit" }]);
    assert.deepEqual(machine({ name: 'm1', macs: ['x'], role: 'worker', labels: { 'topology.kubernetes.io/zone': 'a', rack_1: 'b' } }), []);
  });

  test('the inline "password" field is never offered as a suggestion', () => {
    const r = bmc({ driver: 'ipmi', address: 'a', username: 'u', passwordEnv: 'P', pasword: 'x' });
    assert.deepEqual(r, [{ path: ['pasword'], atKey: true, message: 'unknown field' }]);
    const f = bmc({ driver: 'ipmi', address: 'a', username: 'u', passwordFil: '/x' });
    assert.deepEqual(f, [{ path: ['passwordFil'], atKey: true, message: 'unknown field (did you mean "passwordFile"?)' }]);
  });
});

describe('closest', () => {
  const fields = ['address', 'macs', 'profile', 'bootAddress', 'production'];
  test('finds a field within two edits, case-insensitively', () => {
    assert.equal(closest('adress', fields), 'address');
    assert.equal(closest('mac', fields), 'macs');
    assert.equal(closest('Profile', fields), 'profile');
    assert.equal(closest('bootaddres', fields), 'bootAddress');
    assert.equal(closest('prodution', fields), 'production');
  });
  test('nothing for words three or more edits away, or no candidates', () => {
    assert.equal(closest('macaddress', fields), undefined);
    assert.equal(closest('zzz', fields), undefined);
    assert.equal(closest('address', []), undefined);
  });
  test('the first of equally close candidates', () => {
    assert.equal(closest('ab', ['aa', 'bb']), 'aa');
  });
});
