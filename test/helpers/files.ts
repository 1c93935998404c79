// Test payloads: random files and folders, and byte-for-byte comparison.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';

export async function writeRandomFile(path: string, size: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, randomBytes(size));
}

/** A folder with nested files of different sizes, including one smaller than a piece. */
export async function writeRandomFolder(root: string): Promise<void> {
  await writeRandomFile(join(root, 'a.bin'), 700_000);
  await writeRandomFile(join(root, 'sub', 'b.bin'), 1_300_000);
  await writeRandomFile(join(root, 'sub', 'deeper', 'c.txt'), 1234);
}

export function sha1File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha1');
    createReadStream(path).on('data', (c) => h.update(c)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

/** relative path → sha1 of every file under root. */
export async function treeDigest(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) await walk(p);
      else out[relative(root, p)] = await sha1File(p);
    }
  };
  if ((await stat(root)).isDirectory()) await walk(root);
  else out['.'] = await sha1File(root);
  return out;
}

/** Every file and folder under root, relative, sorted (folders end with /). */
export async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(relative(root, p) + (e.isDirectory() ? '/' : ''));
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(root);
  return out.sort();
}
