/**
 * clipanion, loaded with require(). It is a CommonJS package, and Node 20 spends about 20 ms of
 * CPU more when ES modules import it (the ESM loader's CommonJS translation) than when it is
 * required; start-up is a fixed cost of every `util mbuffer` run. Same module instance either
 * way (one require cache). Our commands throw src/errors.ts's UsageError, not clipanion's: layers
 * below the CLI throw it too, and reportError (common.ts) prints it.
 */
import { createRequire } from 'node:module';
import type * as clipanion from 'clipanion';

const lib = createRequire(import.meta.url)('clipanion') as typeof clipanion;

export const { Builtins, Cli, Command, Option } = lib;
// The instance types under the same names, as `import { Command } from 'clipanion'` gives them.
export type Cli = clipanion.Cli;
export type Command = clipanion.Command;
export type { CommandClass } from 'clipanion';
