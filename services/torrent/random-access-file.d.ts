// random-access-file 4 (through fs-chunk-store): one file read and written at offsets, opened on first use.
declare module 'random-access-file' {
  export default class RandomAccessFile {
    constructor(filename: string, opts?: { pool?: { _onactive(file: RandomAccessFile): void; _oninactive(file: RandomAccessFile): void } });
    read(offset: number, size: number, cb: (err: Error | null, buf?: Buffer) => void): void;
    write(offset: number, data: Uint8Array, cb?: (err: Error | null) => void): void;
    /** Closes the descriptor once queued operations are done; the next read or write opens it again. */
    suspend(cb?: (err: Error | null) => void): void;
    close(cb?: (err: Error | null) => void): void;
  }
}
