/**
 * The layers of src/ (issue 13 item 5): imports point down, and no file imports itself through
 * others. Every import of every .ts file under src/ is read with TypeScript's parser (static
 * imports, `export ... from`, `import('...')` calls and `import('...')` types), so a comment or a
 * string that looks like an import is not one, and a computed `import(expr)` (which hides its
 * target from this test) is refused.
 */
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/**
 * The folders of src/, top to bottom: a file may import from its own folder and from folders
 * below its own, never from one above. `.` is src/'s own files. A new folder must be placed here.
 */
const LAYERS: [folder: string, why: string][] = [
  ['cli', 'the commands: parse, call one service, render; nothing imports them'],
  ['service', 'serialize run by run (lock, resume, next volume): plans, writes the archive, opens the sink'],
  ['inspect', 'mirror inspect: reads archives, and parses manifests as deserialize does (deserialize/manifest.ts)'],
  ['deserialize', 'mirror deserialize and verify: reads archives, pushes to a registry target'],
  ['archive', 'the tar layout: writes a Plan through a ByteSink, reads archives; the medium is handed in (ByteSink, TapeOps, zstd)'],
  ['plan', 'resolve, walk and diff an image into a Plan, through the source capabilities'],
  ['source', 'image sources and targets (OCI layout, registry repository) as one-method capabilities'],
  ['registry', 'the only HTTP code: one repository of one registry'],
  ['config', "ace-dt's configuration file, which the registry reads"],
  ['ui', "the display of a run's events, which the archive writer emits; shows the sink's statistics"],
  ['sink', 'the native writer, tape ioctls, hashing and zstd on the addon'],
  ['oci', 'pure: references, digests, descriptors, media types, successors, verification'],
  ['util', 'byte sizes, log levels, limits, volume names'],
  ['stream', 'blob streams, lent chunks and landings, shared by sources, registry and archive'],
  ['.', 'errors.ts and version.ts: imported by all, import nothing'],
];

/** Folders that may not import each other although the order would allow it, and why. */
const APART: [from: string, to: string, why: string][] = [['archive', 'sink', 'the service hands the archive its sink, tape ioctls and zstd (issue 13)']];

interface Edge {
  from: string;
  to: string;
  line: number;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sourceFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
}

/** Every relative import of `file` (as src/-relative .ts paths), and every computed import(). */
function importsOf(file: string): { edges: Edge[]; computed: number[] } {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const edges: Edge[] = [];
  const computed: number[] = [];
  const lineOf = (n: ts.Node) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
  const add = (spec: ts.Node | undefined, at: ts.Node) => {
    if (!spec || !ts.isStringLiteralLike(spec)) {
      computed.push(lineOf(at));
      return;
    }
    if (!spec.text.startsWith('.')) return; // node: and packages
    const target = resolve(dirname(file), spec.text.replace(/\.js$/, '.ts'));
    edges.push({ from: relative(SRC, file), to: relative(SRC, target), line: lineOf(at) });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) {
      if (n.moduleSpecifier) add(n.moduleSpecifier, n);
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(n.arguments[0], n);
    } else if (ts.isImportTypeNode(n)) {
      const arg = n.argument;
      add(ts.isLiteralTypeNode(arg) ? arg.literal : undefined, n);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return { edges, computed };
}

const folderOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');

const files = sourceFiles(SRC).map((f) => ({ path: relative(SRC, f), ...importsOf(f) }));
const edges = files.flatMap((f) => f.edges);
const rank = new Map(LAYERS.map(([folder], i) => [folder, i]));

t.test('every import names its module with a string', async (t) => {
  const computed = files.flatMap((f) => f.computed.map((line) => `${f.path}:${line}`));
  t.same(computed, [], 'no import(expr): this test could not see where it points');
});

t.test('every import resolves to a file of src/', async (t) => {
  const known = new Set(files.map((f) => f.path));
  t.same(edges.filter((e) => !known.has(e.to)).map((e) => `${e.from}:${e.line} -> ${e.to}`), []);
});

t.test('every folder of src/ has its place in LAYERS', async (t) => {
  const folders = [...new Set(files.map((f) => folderOf(f.path)))].sort();
  t.same(folders.filter((f) => !rank.has(f)), [], 'folders missing from the list');
  t.same(LAYERS.map(([f]) => f).filter((f) => !folders.includes(f)), [], 'listed folders that do not exist');
});

t.test('imports point down: no folder imports one above it', async (t) => {
  const up = edges.filter((e) => {
    const [a, b] = [folderOf(e.from), folderOf(e.to)];
    return a !== b && rank.has(a) && rank.has(b) && rank.get(b)! < rank.get(a)!;
  });
  t.same(up.map((e) => `${e.from}:${e.line} -> ${e.to}`), [], `order, top to bottom: ${LAYERS.map(([f]) => f).join(' > ')}`);
  for (const [a, b, why] of APART) {
    const found = edges.filter((e) => folderOf(e.from) === a && folderOf(e.to) === b);
    t.same(found.map((e) => `${e.from}:${e.line} -> ${e.to}`), [], `${a} imports nothing of ${b}: ${why}`);
  }
});

t.test('no import cycle between files', async (t) => {
  // Tarjan's strongly connected components over the file graph.
  const next = new Map<string, string[]>();
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let counter = 0;
  const connect = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (next.get(v) ?? []).includes(v)) cycles.push(scc.sort());
    }
  };
  for (const f of files) if (!index.has(f.path)) connect(f.path);
  t.same(cycles, [], 'files that import each other, directly or through others');
});
