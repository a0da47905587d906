import { BaseCommand } from '../common.js';

// Placeholder: being built (see issues). Fails loudly instead of pretending.
export class MbufferCommand extends BaseCommand {
  static paths = [['util', 'mbuffer']];
  async run(): Promise<number> {
    this.context.stderr.write('ace-dt: not implemented yet\n');
    return 1;
  }
}
