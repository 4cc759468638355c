// The runbook file format (issue #6): a named, described procedure with typed parameters, a
// target selector and ordered steps, validated whole at load (load.ts). Reference beside the
// built-in runbooks once they exist; this schema is the source of truth.
import { Type, type Static } from 'typebox';

const ident = (what: string) =>
  Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$', errorMessage: `${what} is lower-case letters, digits and '_', starting with a letter (it appears as \${name} in commands)` });

export const ParameterSchema = Type.Object(
  {
    type: Type.Enum(['string', 'integer', 'boolean']),
    description: Type.Optional(Type.String()),
    default: Type.Optional(Type.Union([Type.String(), Type.Integer(), Type.Boolean()])),
    required: Type.Optional(Type.Boolean()),
    enum: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
  },
  { additionalProperties: false },
);

export const TargetSchema = Type.Object(
  {
    names: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    roles: Type.Optional(Type.Array(Type.Enum(['management', 'kvm-host', 'worker']))),
    zones: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    states: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  },
  { additionalProperties: false },
);

export const StepSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    run: Type.Optional(Type.String({ minLength: 1, description: 'one command line, run by the remote shell' })),
    script: Type.Optional(Type.String({ minLength: 1, description: 'a multi-line script, sent on the remote shell\'s standard input' })),
    timeout: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400, description: 'seconds; the remote process is killed after it' })),
    expect: Type.Optional(Type.Array(Type.Integer({ minimum: 0, maximum: 255 }), { minItems: 1, description: 'exit codes that count as success; default [0]' })),
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    retryDelay: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: 'seconds between tries' })),
    when: Type.Optional(
      Type.String({ minLength: 1, description: "NAME, !NAME, NAME == 'text' or NAME != 'text': a parameter, an earlier capture, or its step's result CAPTURE.ok / CAPTURE.exit" }),
    ),
    capture: Type.Optional(ident('a capture name')),
    sudo: Type.Optional(Type.Boolean()),
    continueOnError: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const RunbookSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', errorMessage: "a runbook name is a DNS label: lower-case letters, digits and '-'" }),
    description: Type.String({ minLength: 1 }),
    parameters: Type.Optional(Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]{0,62}$' }), ParameterSchema, { additionalProperties: false, errorMessage: "a parameter name is lower-case letters, digits and '_', starting with a letter" })),
    target: Type.Optional(TargetSchema),
    steps: Type.Array(StepSchema, { minItems: 1 }),
  },
  { additionalProperties: false },
);

export type Runbook = Static<typeof RunbookSchema>;
export type Step = Static<typeof StepSchema>;
export type Parameter = Static<typeof ParameterSchema>;
