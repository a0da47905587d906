import { Cli, Builtins } from 'clipanion';
import { SerializeCommand } from './mirror/serialize.js';
import { DeserializeCommand } from './mirror/deserialize.js';
import { VerifyCommand } from './mirror/verify.js';
import { MbufferCommand } from './util/mbuffer.js';
import { TapeStatusCommand } from './util/tape/status.js';
import { VERSION } from '../version.js';

export function makeCli(): Cli {
  // Colour only on a terminal, never with NO_COLOR (no-color.org).
  const enableColors = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  const cli = new Cli({ binaryLabel: 'ace-dt', binaryName: 'ace-dt', binaryVersion: VERSION, enableCapture: false, enableColors });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  cli.register(SerializeCommand);
  cli.register(DeserializeCommand);
  cli.register(VerifyCommand);
  cli.register(MbufferCommand);
  cli.register(TapeStatusCommand);
  return cli;
}

export async function main(argv: string[]): Promise<number> {
  const cli = makeCli();
  let command;
  try {
    command = cli.process(argv, Cli.defaultContext);
  } catch (e) {
    // Parse errors (unknown flag, missing argument): clipanion's message, exit 2.
    process.stderr.write(cli.error(e));
    return 2;
  }
  return cli.run(command, Cli.defaultContext);
}
