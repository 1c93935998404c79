-- Up Migration

-- Error states: a torrent that fails stays listed with why (error), and a seeding torrent whose files are
-- gone or changed on disk is marked so and no longer advertised (missing, changed). `files` is the stat
-- snapshot of a seeding torrent's files, compared at start and at an interval (libtorrent's resume-data rule).
ALTER TABLE torrents DROP CONSTRAINT torrents_status_check;
ALTER TABLE torrents ADD CONSTRAINT torrents_status_check
  CHECK (status IN ('metadata', 'downloading', 'seeding', 'error', 'missing', 'changed'));
ALTER TABLE torrents ADD COLUMN error_code text;
ALTER TABLE torrents ADD COLUMN error_reason text;
ALTER TABLE torrents ADD COLUMN files jsonb;  -- [{"path": "<path inside save_path>", "size": n, "mtimeMs": n}]

-- Down Migration
ALTER TABLE torrents DROP COLUMN files;
ALTER TABLE torrents DROP COLUMN error_reason;
ALTER TABLE torrents DROP COLUMN error_code;
UPDATE torrents SET status = 'downloading' WHERE status IN ('error', 'missing', 'changed');
ALTER TABLE torrents DROP CONSTRAINT torrents_status_check;
ALTER TABLE torrents ADD CONSTRAINT torrents_status_check CHECK (status IN ('metadata', 'downloading', 'seeding'));
