import { Cli, Builtins, type CommandClass } from './clipanion.js';
import { VERSION } from '../version.js';

/**
 * Every command's path and how to load it. A command line that names one command loads and
 * registers only that one: clipanion compiles a state machine from every registered command on
 * each run, and the other commands' modules cost start-up time for nothing (`util mbuffer` is a
 * process per tape job, compared with Debian's mbuffer on CPU seconds). Anything else (--help,
 * a partial or unknown path) registers them all, so help and error messages list every command.
 */
const COMMANDS: { path: string[]; load: () => Promise<CommandClass> }[] = [
  { path: ['mirror', 'serialize'], load: async () => (await import('./mirror/serialize.js')).SerializeCommand },
  { path: ['mirror', 'deserialize'], load: async () => (await import('./mirror/deserialize.js')).DeserializeCommand },
  { path: ['mirror', 'verify'], load: async () => (await import('./mirror/verify.js')).VerifyCommand },
  { path: ['mirror', 'inspect'], load: async () => (await import('./mirror/inspect.js')).InspectCommand },
  { path: ['util', 'mbuffer'], load: async () => (await import('./util/mbuffer.js')).MbufferCommand },
  { path: ['util', 'tape', 'status'], load: async () => (await import('./util/tape/status.js')).TapeStatusCommand },
];

const startsWith = (argv: readonly string[], path: readonly string[]) => path.length <= argv.length && path.every((seg, i) => argv[i] === seg);

/** The commands to register for `argv`: the one it names, or all of them (no argv: all). */
function commandsFor(argv?: readonly string[]) {
  if (argv) {
    const named = COMMANDS.filter((c) => startsWith(argv, c.path));
    // Exactly one, and no other command's path extends it (`a b` and `a b c` both registered).
    if (named.length === 1 && COMMANDS.filter((c) => startsWith(c.path, named[0].path)).length === 1) return named;
  }
  return COMMANDS;
}

export async function makeCli(argv?: readonly string[]): Promise<Cli> {
  const commands = await Promise.all(commandsFor(argv).map((c) => c.load()));
  // Colour only on a terminal, never with NO_COLOR (no-color.org).
  const enableColors = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  const cli = new Cli({ binaryLabel: 'ace-dt', binaryName: 'ace-dt', binaryVersion: VERSION, enableCapture: false, enableColors });
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  for (const command of commands) cli.register(command);
  return cli;
}

/** Commands that write a medium or a registry for hours: text they cannot print is no reason to stop. */
const LONG_JOBS = [['mirror', 'serialize'], ['mirror', 'deserialize'], ['util', 'mbuffer']];

/**
 * Standard output read by a program that stops early (`ace-dt mirror inspect T | head`): Node
 * ignores SIGPIPE and raises EPIPE as an uncaught error with a stack trace. A listing ends
 * quietly with the status of a tool killed by SIGPIPE (141, as cat or tar would); a long job
 * goes on without its text output, and its exit status still says how the job went.
 */
function quietOnClosedStdout(argv: readonly string[]): void {
  const longJob = LONG_JOBS.some((path) => startsWith(argv, path));
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_DESTROYED') throw e;
    if (!longJob) process.exit(141);
  });
}

export async function main(argv: string[]): Promise<number> {
  quietOnClosedStdout(argv);
  const cli = await makeCli(argv);
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
