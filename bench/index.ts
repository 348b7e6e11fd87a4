/**
 * `npm run bench [-- <name>...]`: speed and size targets, each printed as ratios against a
 * peer measured in the same run. Names: serde, prune, train, tissue (default: all available).
 */
import { benchSerde } from './serde.js';

type Bench = () => Promise<object>;

async function load(name: string): Promise<Bench | undefined> {
  switch (name) {
    case 'serde': return () => benchSerde();
    case 'prune': try { return (await import('./prune.js' as string)).benchPrune; } catch { return undefined; }
    case 'train': try { return (await import('./train.js' as string)).benchTrain; } catch { return undefined; }
    case 'tissue': try { return (await import('./tissue.js' as string)).benchTissue; } catch { return undefined; }
    default: return undefined;
  }
}

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = wanted.length ? wanted : ['serde', 'prune', 'train', 'tissue'];
for (const n of names) {
  const b = await load(n);
  if (!b) { console.log(`## ${n}: not available`); continue; }
  console.log(`## ${n}`);
  await b();
}
