// The part of webtorrent 3's API bitween uses (the package ships no types).
declare module 'webtorrent' {
  import { EventEmitter } from 'node:events';

  export interface TorrentFile {
    name: string;
    path: string;
    length: number;
    /** Where the file begins in the torrent's byte stream. */
    offset: number;
    /** Every piece the file touches is verified. */
    done: boolean;
    /** Adds the file's pieces (those it shares with its neighbours too) to the torrent's selection. */
    select(priority?: number): void;
  }

  /** A peer connection (bittorrent-protocol's Wire), handed out by a torrent's 'wire' event. */
  export interface Wire extends EventEmitter {
    /** Sent to the peer as the BEP 10 extended handshake; fields may be added until it is sent. */
    extendedHandshake: Record<string, unknown>;
    /** The peer's BEP 10 extended handshake once received. */
    peerExtendedHandshake: Record<string, unknown>;
    /** Our requests the peer has not answered yet. */
    requests: unknown[];
  }

  export interface Torrent extends EventEmitter {
    infoHash: string;
    name: string;
    length: number;
    downloaded: number;
    uploaded: number;
    /** Bytes received from peers in this session, wasted ones too (`downloaded` is verified bytes). */
    received: number;
    downloadSpeed: number;
    uploadSpeed: number;
    progress: number;
    numPeers: number;
    done: boolean;
    ready: boolean;
    destroyed: boolean;
    path: string;
    pieceLength: number;
    lastPieceLength: number;
    pieces: unknown[];
    files: TorrentFile[];
    magnetURI: string;
    torrentFile: Uint8Array;
    /** The raw info dictionary (bencode values: byte strings as Uint8Array), once the metadata is known. */
    info?: unknown;
    bitfield: { buffer: Uint8Array; get(index: number): boolean } | undefined;
    addPeer(peer: string): boolean;
    /** Piece ranges to download (inclusive); deselect removes the range from every selection. */
    select(start: number, end: number, priority?: number): void;
    deselect(start: number, end: number): void;
    destroy(opts?: { destroyStore?: boolean }, cb?: (err?: Error) => void): void;
  }

  export interface AddOptions {
    path?: string;
    bitfield?: Uint8Array;
    skipVerify?: boolean;
    /** Start with no piece selected (the caller selects files once the torrent is ready). */
    deselect?: boolean;
    announce?: string[];
    announceList?: string[][];
    createdBy?: string;
    /** A chunk-store class (fs-chunk-store's interface), constructed when the metadata is known. */
    store?: unknown;
  }

  export interface Options {
    dht?: boolean;
    tracker?: boolean;
    lsd?: boolean;
    utp?: boolean;
    natUpnp?: boolean;
    natPmp?: boolean;
    webSeeds?: boolean;
    utPex?: boolean;
    torrentPort?: number;
    uploadLimit?: number;
    downloadLimit?: number;
    maxConns?: number;
  }

  export default class WebTorrent extends EventEmitter {
    constructor(opts?: Options);
    torrents: Torrent[];
    torrentPort: number;
    listening: boolean;
    downloadSpeed: number;
    uploadSpeed: number;
    add(id: string | Uint8Array, opts?: AddOptions, ontorrent?: (t: Torrent) => void): Torrent;
    seed(input: string, opts?: AddOptions, onseed?: (t: Torrent) => void): Torrent;
    get(id: string): Promise<Torrent | null>;
    remove(id: string | Torrent, opts?: { destroyStore?: boolean }, cb?: (err?: Error) => void): Promise<void>;
    destroy(cb?: (err?: Error) => void): void;
    /** Bytes per second for the whole session; -1 = no limit. Takes effect on open connections too. */
    throttleUpload(rate: number): false | void;
    throttleDownload(rate: number): false | void;
  }
}

declare module 'create-torrent' {
  export function parseInput(input: string, opts: object, cb: (err: Error | null, files: any[], singleFile: boolean) => void): void;
}

declare module 'piece-length' {
  export default function pieceLength(bytes: number): number;
}

declare module 'fs-chunk-store' {
  export default class FSChunkStore {
    constructor(chunkLength: number, opts?: Record<string, unknown>);
    closed: boolean;
    /** Where each file of the torrent lies; opened lazily from `path`. */
    files: { path: string; length: number; offset: number }[];
    get(index: number, opts: unknown, cb: (err: Error | null, buf?: Uint8Array) => void): void;
  }
}
