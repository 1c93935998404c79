-- Up Migration

-- Controls (issue 13.5). paused: the user paused the torrent; it stays out of the session (no download, no
-- upload, not advertised) until resumed, also across restarts; its status is kept. selected_files: the file
-- indexes (0-based, the torrent's file order) to download; null = all. uploaded_bytes / downloaded_bytes:
-- totals over every run (ratio = uploaded / downloaded), written with progress and on stop.
ALTER TABLE torrents ADD COLUMN paused boolean NOT NULL DEFAULT false;
ALTER TABLE torrents ADD COLUMN selected_files jsonb;  -- [0, 2] or null
ALTER TABLE torrents ADD COLUMN uploaded_bytes bigint NOT NULL DEFAULT 0;
ALTER TABLE torrents ADD COLUMN downloaded_bytes bigint NOT NULL DEFAULT 0;

-- Down Migration
ALTER TABLE torrents DROP COLUMN downloaded_bytes;
ALTER TABLE torrents DROP COLUMN uploaded_bytes;
ALTER TABLE torrents DROP COLUMN selected_files;
ALTER TABLE torrents DROP COLUMN paused;
