/**
 * `npm run bench [-- <name>...]`: speed and size targets, each printed as ratios against a
 * peer measured in the same run. Names: serde, prune, train, tissue, onestep, search (default: all available).
 */
import { benchSerde } from './serde.js';

type Bench = (args: readonly string[]) => Promise<object>;

async function load(name: string): Promise<Bench | undefined> {
  switch (name) {
    case 'serde':
      return () => benchSerde();
    case 'prune':
      try {
        const { benchPrune } = await import('./prune.js' as string);
        return (args) => benchPrune(args);
      } catch {
        return undefined;
      }
    case 'search':
      try {
        const { benchSearch } = await import('./search.js' as string);
        return () => benchSearch();
      } catch {
        return undefined;
      }
    case 'train':
      try {
        const { benchTrain } = await import('./train.js' as string);
        return () => benchTrain();
      } catch {
        return undefined;
      }
    case 'tissue':
      try {
        const { benchTissue } = await import('./tissue.js' as string);
        return () => benchTissue();
      } catch {
        return undefined;
      }
    case 'onestep':
      try {
        const { benchOnestep } = await import('./onestep.js' as string);
        return () => benchOnestep();
      } catch {
        return undefined;
      }
    default:
      return undefined;
  }
}

// Names are the known benches; everything else (--size 128, --models a,b) goes to the prune bench.
const KNOWN = ['serde', 'prune', 'train', 'tissue', 'onestep', 'search'];
const argv = process.argv.slice(2);
const wanted = argv.filter((a) => KNOWN.includes(a));
const rest = argv.filter((a) => !KNOWN.includes(a));
const names = wanted.length ? wanted : KNOWN;
for (const n of names) {
  const b = await load(n);
  if (!b) {
    console.log(`## ${n}: not available`);
    continue;
  }
  console.log(`## ${n}`);
  await b(rest);
}
