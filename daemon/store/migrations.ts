// Numbered schema migrations. Append only: a released migration is never edited. The
// database's PRAGMA user_version is the number of migrations applied.
export const migrations: readonly string[] = [
  // 1: machines, their MACs, the append-only event log, API tokens, inventory bookkeeping.
  `
  CREATE TABLE machines (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    zone          TEXT,
    profile       TEXT,
    spec          TEXT NOT NULL,              -- desired: the normalised inventory entry, JSON
    state         TEXT NOT NULL,
    state_reason  TEXT,
    state_since   TEXT NOT NULL,
    observed      TEXT NOT NULL DEFAULT '{}', -- what ironbay has seen of the machine, JSON
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    retired_at    TEXT,
    CHECK ((state = 'retired') = (retired_at IS NOT NULL))
  );
  CREATE INDEX machines_state ON machines(state);

  -- A counter bumped by every write to machines, whoever makes it: readers (the API's list
  -- cache, ETags) compare it instead of re-reading 10,000 rows to learn nothing changed.
  CREATE TABLE data_versions (name TEXT PRIMARY KEY, version INTEGER NOT NULL);
  INSERT INTO data_versions VALUES ('machines', 0);
  CREATE TRIGGER machines_version_insert AFTER INSERT ON machines
    BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'machines'; END;
  CREATE TRIGGER machines_version_update AFTER UPDATE ON machines
    BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'machines'; END;
  CREATE TRIGGER machines_version_delete AFTER DELETE ON machines
    BEGIN UPDATE data_versions SET version = version + 1 WHERE name = 'machines'; END;

  -- Only machines in service own MACs: a retired machine's MAC may be reused by new hardware.
  CREATE TABLE machine_macs (
    mac         TEXT PRIMARY KEY,
    machine_id  INTEGER NOT NULL REFERENCES machines(id) ON DELETE CASCADE
  );
  CREATE INDEX machine_macs_machine ON machine_macs(machine_id);

  CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    time        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    machine_id  INTEGER REFERENCES machines(id),
    kind        TEXT NOT NULL,
    details     TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX events_machine ON events(machine_id, id);
  CREATE INDEX events_kind ON events(kind, id);
  CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
  CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

  CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    hash          TEXT NOT NULL UNIQUE,       -- sha256 of the token; the token itself is never stored
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT
  );

  CREATE TABLE inventory_state (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    file           TEXT,
    hash           TEXT,                     -- sha256 of the applied file's bytes
    applied_at     TEXT,
    sections       TEXT,                     -- the applied networks, profiles, clusters, JSON (machines live in their table)
    last_error     TEXT,                     -- JSON list of SourceError, or NULL after a good apply
    last_error_at  TEXT
  );
  INSERT INTO inventory_state (id) VALUES (1);
  `,
  // 2: DHCP leases. One row per address ever handed out (address is UNIQUE), so an address
  // can never be held by two clients, whatever happens between a crash and a restart; a row
  // is reassigned, never duplicated, when its lease has ended.
  `
  CREATE TABLE leases (
    address     TEXT PRIMARY KEY,
    mac         TEXT NOT NULL,
    client_id   TEXT,                      -- option 61 as hex, when the client sent one
    state       TEXT NOT NULL CHECK (state IN ('offered', 'bound', 'released', 'declined')),
    expires_at  INTEGER NOT NULL,          -- unix ms; past it, an offered or bound lease is free again
    updated_at  TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX leases_mac ON leases(mac);
  `,
  // 3: network boots. A boot session is one rendered iPXE script (its id is the "boot id" in
  // asset URLs and the kernel command line); it holds the SHA-256 of the phone-home token when
  // the script boots a kernel. A token is good until a final report uses it or a newer boot of
  // the machine supersedes it. Boot stages are the timeline (DHCP, TFTP, script, kernel,
  // initrd, report) keyed by machine so that a machine's last boot is one index range.
  // Times are unix milliseconds: stages arrive at boot-storm rates and are compared, not shown raw.
  `
  CREATE TABLE boot_sessions (
    id          INTEGER PRIMARY KEY,
    machine_id  INTEGER NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    action      TEXT NOT NULL,             -- install, live, discovery, local-disk, hold
    profile     TEXT,
    token_hash  TEXT UNIQUE,               -- sha256 of the token, NULL when the script boots no kernel
    created_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    end_reason  TEXT CHECK (end_reason IN ('installed', 'failed', 'superseded')),
    CHECK ((ended_at IS NULL) = (end_reason IS NULL))
  );
  CREATE INDEX boot_sessions_machine ON boot_sessions(machine_id, id);

  CREATE TABLE boot_stages (
    id          INTEGER PRIMARY KEY,
    machine_id  INTEGER NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    boot_id     INTEGER,                   -- boot_sessions.id when the stage belongs to a known boot; no FK so old sessions can be pruned
    stage       TEXT NOT NULL,
    detail      TEXT,
    at          INTEGER NOT NULL
  );
  CREATE INDEX boot_stages_machine ON boot_stages(machine_id, id);
  `,
  // 4: the lifecycle reconciler's bookkeeping beside each machine's state (machines.state
  // stays the one truth of where a machine is). goal: what an operator asked for and the
  // reconciler is working towards; attempts: tries of the current wait; acted_at: when this
  // state's side effect (a power cycle) was done — NULL means it is still to do, so a restart
  // between the BMC call and this row redoes an idempotent call rather than skipping it;
  // deadline: when the current wait gives up; next_at: when to look again; queued_at: the
  // admission order; held_state: the state a maintenance hold returns to. Times: unix ms.
  `
  CREATE TABLE lifecycle (
    machine_id  INTEGER PRIMARY KEY REFERENCES machines(id) ON DELETE CASCADE,
    goal        TEXT CHECK (goal IN ('provision', 'deprovision')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    acted_at    INTEGER,
    deadline    INTEGER,
    next_at     INTEGER,
    queued_at   INTEGER,
    held_state  TEXT
  );
  CREATE INDEX lifecycle_next ON lifecycle(next_at) WHERE next_at IS NOT NULL;
  `,
  // 5: SSH. ssh_host_keys pins each host's key on first contact (kind 'machine' or 'jump':
  // a configured jump host). A different key later is refused and kept as pending_* so that
  // `ironbay hosts accept` pins exactly the key that was seen, not whatever comes next.
  // Runbook runs: the runbook as run (its text and digest: runbooks are files that change),
  // parameters, options and who started it; a row per machine and per step with exit code,
  // duration and size-capped output. A run still 'running' when the daemon starts was cut
  // short by a crash or a stop and is marked 'interrupted'. Times: unix ms.
  `
  CREATE TABLE ssh_host_keys (
    kind                 TEXT NOT NULL CHECK (kind IN ('machine', 'jump')),
    name                 TEXT NOT NULL,
    key_type             TEXT NOT NULL,
    key                  TEXT NOT NULL,       -- the public key blob, base64
    fingerprint          TEXT NOT NULL,       -- SHA256:… as OpenSSH prints it
    address              TEXT NOT NULL,       -- host:port it was seen at
    pinned_at            INTEGER NOT NULL,
    pinned_by            TEXT NOT NULL,
    last_seen_at         INTEGER NOT NULL,
    pending_key_type     TEXT,
    pending_key          TEXT,
    pending_fingerprint  TEXT,
    pending_seen_at      INTEGER,
    PRIMARY KEY (kind, name)
  ) WITHOUT ROWID;

  CREATE TABLE runbook_runs (
    id            INTEGER PRIMARY KEY,
    runbook       TEXT NOT NULL,
    source        TEXT NOT NULL,              -- the file it was loaded from
    digest        TEXT NOT NULL,              -- sha256 of that file's bytes
    definition    TEXT NOT NULL,              -- the runbook as run, JSON
    params        TEXT NOT NULL,              -- JSON
    options       TEXT NOT NULL,              -- parallel, rolling, stopOnFailure, target: JSON
    actor         TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
    error         TEXT,
    created_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    CHECK ((state = 'running') = (ended_at IS NULL))
  );
  CREATE INDEX runbook_runs_running ON runbook_runs(state) WHERE state = 'running';

  CREATE TABLE runbook_run_machines (
    run_id        INTEGER NOT NULL REFERENCES runbook_runs(id) ON DELETE CASCADE,
    machine       TEXT NOT NULL,              -- the name: a run's record outlives a machine's retirement
    position      INTEGER NOT NULL,
    address       TEXT,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'skipped', 'interrupted')),
    error         TEXT,
    started_at    INTEGER,
    ended_at      INTEGER,
    PRIMARY KEY (run_id, machine)
  ) WITHOUT ROWID;

  CREATE TABLE runbook_steps (
    run_id        INTEGER NOT NULL REFERENCES runbook_runs(id) ON DELETE CASCADE,
    machine       TEXT NOT NULL,
    idx           INTEGER NOT NULL,
    name          TEXT NOT NULL,
    command       TEXT NOT NULL,              -- as sent, parameters substituted
    state         TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'timeout', 'skipped', 'cancelled', 'interrupted')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    exit_code     INTEGER,
    exit_signal   TEXT,
    error         TEXT,
    started_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    stdout        TEXT NOT NULL DEFAULT '',
    stderr        TEXT NOT NULL DEFAULT '',
    stdout_bytes  INTEGER NOT NULL DEFAULT 0, -- the full size; more than stored when truncated
    stderr_bytes  INTEGER NOT NULL DEFAULT 0,
    truncated     INTEGER NOT NULL DEFAULT 0, -- 1 when the cap dropped part of stdout or stderr
    PRIMARY KEY (run_id, machine, idx)
  ) WITHOUT ROWID;
  `,
  // 6: workload clusters: each with its VNI (never two clusters with one, whatever crashes
  // when: the UNIQUE constraint is the guarantee, the allocation only picks the lowest free),
  // node subnet and endpoint ports; their VMs with derived MACs and the host ports that
  // reach them; the kvm-hosts as last read.
  `
  CREATE TABLE clusters (
    name            TEXT PRIMARY KEY,
    source          TEXT NOT NULL CHECK (source IN ('inventory', 'api')),
    spec            TEXT NOT NULL,              -- the inventory's cluster shape, JSON
    vni             INTEGER NOT NULL UNIQUE,
    subnet          TEXT NOT NULL,              -- may equal another cluster's: the overlays never meet
    endpoint_port   INTEGER NOT NULL UNIQUE,    -- on the appliance: API; +1 HTTP; +2 HTTPS
    secrets         TEXT NOT NULL,              -- bootstrap token, certificate key: JSON
    state           TEXT NOT NULL CHECK (state IN ('creating', 'ready', 'degraded', 'deleting')),
    state_reason    TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE cluster_vms (
    cluster         TEXT NOT NULL REFERENCES clusters(name) ON DELETE CASCADE,
    idx             INTEGER NOT NULL,           -- stable: the VM's address is subnet host 10 + idx
    name            TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('control-plane', 'worker')),
    host            TEXT NOT NULL,
    address         TEXT NOT NULL,
    mac             TEXT NOT NULL UNIQUE,
    forward_port    INTEGER NOT NULL UNIQUE,    -- on the host: 6443 (or 80) here, 443 at +1
    desired         TEXT NOT NULL CHECK (desired IN ('running', 'removed')),
    observed        TEXT NOT NULL DEFAULT 'pending',
    observed_at     TEXT,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (cluster, idx)
  ) WITHOUT ROWID;
  CREATE INDEX cluster_vms_host ON cluster_vms(host);

  CREATE TABLE kvm_hosts (
    name            TEXT PRIMARY KEY,
    capacity        TEXT,                       -- what the host reported: JSON
    reachable       INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    seen_at         TEXT
  ) WITHOUT ROWID;
  `,
];
