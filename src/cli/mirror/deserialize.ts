import { BaseCommand } from '../common.js';

// Placeholder: being built (see issues). Fails loudly instead of pretending.
export class DeserializeCommand extends BaseCommand {
  static paths = [['mirror', 'deserialize']];
  async run(): Promise<number> {
    this.context.stderr.write('ace-dt: not implemented yet\n');
    return 1;
  }
}
