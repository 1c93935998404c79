// bitween-torrent's entry. It first leaves out the parts of webtorrent that bitween keeps switched off
// (lean-loading.ts), then starts the service (main.ts): by a dynamic import, because a module resolve hook
// applies only to modules resolved after it is registered, and static imports are resolved before any code runs.
import { leanLoading } from './lean-loading.js';

leanLoading();
await import('./main.js');
