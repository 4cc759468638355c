// The Redfish resource codec: what it takes from well-formed resources (shaped after DSP0268 and
// DMTF's public mockups) and how it refuses each malformed part, one message per branch.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MAX_BODY_BYTES,
  parseObject,
  parseRetryAfter,
  path,
  readActionInfoAllowable,
  readCollection,
  readErrorBody,
  readManager,
  readServiceRoot,
  readSystem,
  RedfishShapeError,
} from '../../daemon/bmc/redfish/resources.ts';

const bytes = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
const shape = (re: RegExp) => (e: unknown) => e instanceof RedfishShapeError && re.test(e.message);

const system = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  '@odata.id': '/redfish/v1/Systems/sys1',
  '@odata.etag': 'W/"7"',
  Manufacturer: 'Contoso',
  Model: '3500',
  PowerState: 'On',
  Status: { State: 'Enabled', Health: 'Warning' },
  Boot: {
    BootSourceOverrideEnabled: 'Once',
    BootSourceOverrideTarget: 'Pxe',
    'BootSourceOverrideTarget@Redfish.AllowableValues': ['None', 'Pxe', 'Hdd', 7],
    BootSourceOverrideMode: 'UEFI',
  },
  Links: { ManagedBy: [{ '@odata.id': '/redfish/v1/Managers/BMC' }] },
  Actions: {
    '#ComputerSystem.Reset': {
      target: '/redfish/v1/Systems/sys1/Actions/ComputerSystem.Reset',
      'ResetType@Redfish.AllowableValues': ['On', 'ForceOff'],
    },
  },
  ...over,
});

describe('bodies', () => {
  test('a JSON object is accepted; anything else names what was wrong', () => {
    assert.deepEqual(parseObject(bytes({ a: 1 }), 'X'), { a: 1 });
    assert.throws(() => parseObject(bytes('<html>login</html>'), 'ServiceRoot'), shape(/ServiceRoot: body is not JSON \(18 bytes\)/));
    assert.throws(() => parseObject(bytes([1, 2]), 'X'), shape(/JSON is not an object/));
    assert.throws(() => parseObject(bytes('null'), 'X'), shape(/JSON is not an object/));
    assert.throws(() => parseObject(Buffer.alloc(0), 'X'), shape(/not JSON \(0 bytes\)/));
    assert.throws(() => parseObject(Buffer.alloc(MAX_BODY_BYTES + 1, 0x20), 'X'), shape(/exceeds/));
  });

  test('paths: absolute paths kept, URLs cut to their path, the rest refused', () => {
    assert.equal(path('/redfish/v1/Systems/1', 'x'), '/redfish/v1/Systems/1');
    assert.equal(path('https://192.0.2.5/redfish/v1/SessionService/Sessions/4?x=1', 'x'), '/redfish/v1/SessionService/Sessions/4?x=1');
    assert.throws(() => path('', 'Location'), shape(/Location is not a URI/));
    assert.throws(() => path(42, 'Location'), shape(/Location is not a URI/));
    assert.throws(() => path('Systems/1', 'Location'), shape(/Location is not a URI: "Systems\/1"/));
  });
});

describe('service root and collections', () => {
  test('links are read, optional ones may be absent', () => {
    const root = readServiceRoot({
      Systems: { '@odata.id': '/redfish/v1/Systems' },
      Managers: { '@odata.id': '/redfish/v1/Managers' },
      SessionService: { '@odata.id': '/redfish/v1/SessionService' },
      Links: { Sessions: { '@odata.id': '/redfish/v1/SessionService/Sessions' } },
    });
    assert.deepEqual(root, {
      systems: '/redfish/v1/Systems',
      managers: '/redfish/v1/Managers',
      sessionService: '/redfish/v1/SessionService',
      sessions: '/redfish/v1/SessionService/Sessions',
    });
    assert.deepEqual(readServiceRoot({ Systems: { '@odata.id': '/redfish/v1/Systems' } }), { systems: '/redfish/v1/Systems' });
  });

  test('a root without Systems, or with broken links, is refused', () => {
    assert.throws(() => readServiceRoot({}), shape(/ServiceRoot.Systems is not a link object/));
    assert.throws(() => readServiceRoot({ Systems: { '@odata.id': 3 } }), shape(/ServiceRoot.Systems.@odata.id is not a URI/));
    assert.throws(() => readServiceRoot({ Systems: { '@odata.id': '/s' }, Managers: 'x' }), shape(/ServiceRoot.Managers is not a link/));
  });

  test('collection members', () => {
    assert.deepEqual(readCollection({ Members: [{ '@odata.id': '/a' }, { '@odata.id': '/b' }] }, 'C'), ['/a', '/b']);
    assert.deepEqual(readCollection({ Members: [] }, 'C'), []);
    assert.throws(() => readCollection({}, 'C'), shape(/C: Members is not an array/));
    assert.throws(() => readCollection({ Members: [{}] }, 'C'), shape(/C.Members\[0\].@odata.id is not a URI/));
  });
});

describe('ComputerSystem', () => {
  test('the fields the driver uses', () => {
    assert.deepEqual(readSystem(system(), '/redfish/v1/Systems/sys1'), {
      path: '/redfish/v1/Systems/sys1',
      powerState: 'On',
      health: 'Warning',
      manufacturer: 'Contoso',
      model: '3500',
      resetTarget: '/redfish/v1/Systems/sys1/Actions/ComputerSystem.Reset',
      resetTypes: ['On', 'ForceOff'],
      boot: { modeExposed: true, target: 'Pxe', enabled: 'Once', mode: 'UEFI', targets: ['None', 'Pxe', 'Hdd'] },
      managedBy: '/redfish/v1/Managers/BMC',
      etag: 'W/"7"',
    });
  });

  test('reset types through ActionInfo (OpenBMC bmcweb style)', () => {
    const sys = readSystem(
      system({ Actions: { '#ComputerSystem.Reset': { target: '/r', '@Redfish.ActionInfo': '/redfish/v1/Systems/sys1/ResetActionInfo' } } }),
      '/s',
    );
    assert.equal(sys.resetTypes, undefined);
    assert.equal(sys.resetActionInfo, '/redfish/v1/Systems/sys1/ResetActionInfo');
    const info = { Parameters: [{ Name: 'Other' }, { Name: 'ResetType', AllowableValues: ['On', 'ForceOff', 1] }] };
    assert.deepEqual(readActionInfoAllowable(info, 'ResetType'), ['On', 'ForceOff']);
    assert.equal(readActionInfoAllowable({ Parameters: [{ Name: 'ResetType' }] }, 'ResetType'), undefined);
    assert.throws(() => readActionInfoAllowable({}, 'ResetType'), shape(/Parameters is not an array/));
  });

  test('without Boot, or Mode, the system says so', () => {
    const { Boot: _, ...noBoot } = system();
    assert.deepEqual(readSystem(noBoot, '/s').boot, { modeExposed: false });
    const sys = readSystem(system({ Boot: { BootSourceOverrideTarget: 'Hdd' } }), '/s');
    assert.deepEqual(sys.boot, { modeExposed: false, target: 'Hdd' });
  });

  test('each missing essential is its own error', () => {
    const { PowerState: _p, ...noPower } = system();
    assert.throws(() => readSystem(noPower, '/s'), shape(/ComputerSystem \/s: PowerState is missing/));
    const { Actions: _a, ...noActions } = system();
    assert.throws(() => readSystem(noActions, '/s'), shape(/Actions is not an object/));
    assert.throws(() => readSystem(system({ Actions: {} }), '/s'), shape(/#ComputerSystem.Reset is not an object/));
    assert.throws(() => readSystem(system({ Actions: { '#ComputerSystem.Reset': {} } }), '/s'), shape(/Reset target is not a URI/));
    assert.throws(() => readSystem(system({ Links: { ManagedBy: ['x'] } }), '/s'), shape(/ManagedBy\[0\] is not a link/));
  });

  test('Manager: model and firmware', () => {
    assert.deepEqual(readManager({ Model: 'Joo Janta 200', FirmwareVersion: '1.45', Manufacturer: 7 }), { model: 'Joo Janta 200', firmware: '1.45' });
  });
});

describe('error bodies', () => {
  test('ExtendedInfo messages and ids (DSP0266 error response)', () => {
    const body = {
      error: {
        code: 'Base.1.8.GeneralError',
        message: 'A general error has occurred.',
        '@Message.ExtendedInfo': [
          { MessageId: 'Base.1.8.PropertyValueNotInList', Message: 'The value Floppy for BootSourceOverrideTarget is not allowed.' },
          { MessageId: 'Base.1.8.ResetRequired' },
          'junk',
        ],
      },
    };
    assert.deepEqual(readErrorBody(bytes(body)), {
      messages: ['The value Floppy for BootSourceOverrideTarget is not allowed.'],
      messageIds: ['Base.1.8.PropertyValueNotInList', 'Base.1.8.ResetRequired'],
    });
  });

  test('only code and message; nothing usable; hostile sizes', () => {
    assert.deepEqual(readErrorBody(bytes({ error: { code: 'Base.1.0.Busy', message: 'Busy.' } })), { messages: ['Busy.'], messageIds: ['Base.1.0.Busy'] });
    assert.deepEqual(readErrorBody(bytes('<html>503</html>')), { messages: [], messageIds: [] });
    assert.deepEqual(readErrorBody(Buffer.alloc(0)), { messages: [], messageIds: [] });
    const many = { error: { '@Message.ExtendedInfo': Array.from({ length: 50 }, () => ({ Message: 'x'.repeat(1000) })) } };
    const info = readErrorBody(bytes(many));
    assert.equal(info.messages.length, 8);
    assert.equal(info.messages[0]!.length, 301);
  });
});

describe('Retry-After', () => {
  test('seconds, HTTP-date, absent, garbage', () => {
    assert.equal(parseRetryAfter('3', 0), 3000);
    assert.equal(parseRetryAfter(' 0 ', 0), 0);
    const now = Date.parse('2025-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now), 0);
    assert.equal(parseRetryAfter(undefined, 0), undefined);
    assert.equal(parseRetryAfter('soon', 0), undefined);
    assert.equal(parseRetryAfter('-1', 0), undefined);
  });
});
