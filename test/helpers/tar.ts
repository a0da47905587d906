import { createReadStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { Parser, type ReadEntry } from 'tar';

export interface ListedEntry {
  path: string;
  type: string;
  size: number;
  digest?: string;
}

/**
 * List a tar archive with node-tar (an independent reader): names, types, sizes, sha256 of
 * file contents, in stream order.
 */
export async function listTar(file: string): Promise<ListedEntry[]> {
  const entries: ListedEntry[] = [];
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        const hash = createHash('sha256');
        const e: ListedEntry = { path: entry.path, type: entry.type, size: entry.size ?? 0 };
        entries.push(e);
        entry.on('data', (c: Buffer) => hash.update(c));
        entry.on('end', () => {
          if (entry.type === 'File') e.digest = 'sha256:' + hash.digest('hex');
        });
      },
    });
    parser.on('error', reject);
    parser.on('warn', (code: string, msg: string) => reject(new Error(`${code}: ${msg}`)));
    const rs = createReadStream(file);
    rs.pipe(parser);
    parser.on('end', resolve);
    parser.on('finish', resolve);
    rs.on('error', reject);
  });
  return entries;
}
