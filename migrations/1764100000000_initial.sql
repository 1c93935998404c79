-- Up Migration

-- Own torrents: what this node shares or downloads. The thesis kept magnet link, .torrent file, status and
-- save path; the rest makes a restart fast (bitfield) and lets the CLI and XMPP service read state directly.
CREATE TABLE torrents (
  info_hash     char(40) PRIMARY KEY CHECK (info_hash ~ '^[0-9a-f]{40}$'),
  name          text,
  magnet_link   text NOT NULL,
  torrent_file  bytea,                       -- NULL until the metadata is known
  status        text NOT NULL CHECK (status IN ('metadata', 'downloading', 'seeding')),
  origin        text NOT NULL CHECK (origin IN ('shared', 'fetched')),
  save_path     text NOT NULL,
  total_size    bigint CHECK (total_size >= 0),
  bytes_done    bigint NOT NULL DEFAULT 0 CHECK (bytes_done >= 0),
  bitfield      bytea,                       -- verified pieces, one bit each, as BitTorrent sends them
  added_at      timestamptz NOT NULL DEFAULT now(),
  completed_at  timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Roster as the XMPP service sees it; pending requests wait here until accepted.
CREATE TABLE contacts (
  jid           text PRIMARY KEY,
  subscription  text NOT NULL DEFAULT 'none' CHECK (subscription IN ('none', 'to', 'from', 'both')),
  pending_in    boolean NOT NULL DEFAULT false,  -- they asked to see our presence
  pending_out   boolean NOT NULL DEFAULT false,  -- we asked to see theirs
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per contact resource that published shares or was seen online (own account's other resources
-- included). fingerprint/version remember what its entry last said, so a repeated notification (PEP sends
-- duplicates; every reconnect re-sends the last item) costs no rewrite and no page fetch.
CREATE TABLE contact_resources (
  jid           text NOT NULL,
  resource      text NOT NULL,
  online        boolean NOT NULL DEFAULT false,
  fingerprint   text,                        -- hash of the entry's shares (or page version) and addresses
  version       text,                        -- page-set version of a list published in pages, else NULL
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (jid, resource)
);

CREATE TABLE contact_shares (
  jid           text NOT NULL,
  resource      text NOT NULL,
  info_hash     char(40) NOT NULL CHECK (info_hash ~ '^[0-9a-f]{40}$'),
  name          text NOT NULL,
  size          bigint NOT NULL CHECK (size >= 0),
  PRIMARY KEY (jid, resource, info_hash),
  FOREIGN KEY (jid, resource) REFERENCES contact_resources ON DELETE CASCADE
);
CREATE INDEX contact_shares_info_hash ON contact_shares (info_hash);
-- `browse TERM` matches name substrings (ILIKE '%term%'): a trigram index answers that without reading
-- every contact's every share (pg_trgm ships with PostgreSQL and is a trusted extension since 13).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX contact_shares_name_trgm ON contact_shares USING gin (name gin_trgm_ops);

CREATE TABLE contact_addresses (
  jid           text NOT NULL,
  resource      text NOT NULL,
  address       inet NOT NULL,
  port          integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
  PRIMARY KEY (jid, resource, address, port),
  FOREIGN KEY (jid, resource) REFERENCES contact_resources ON DELETE CASCADE
);

-- Current facts the services share (listen port, mapped ports, own addresses), read on start so that no
-- service depends on having seen a message published before it subscribed.
CREATE TABLE node_state (
  key           text PRIMARY KEY,
  value         jsonb NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE node_state;
DROP TABLE contact_addresses;
DROP TABLE contact_shares;
DROP TABLE contact_resources;
DROP TABLE contacts;
DROP EXTENSION IF EXISTS pg_trgm;
DROP TABLE torrents;
