import { BaseCommand } from '../common.js';

// Placeholder: being built (see issues). Fails loudly instead of pretending.
export class VerifyCommand extends BaseCommand {
  static paths = [['mirror', 'verify']];
  async run(): Promise<number> {
    this.context.stderr.write('ace-dt: not implemented yet\n');
    return 1;
  }
}
