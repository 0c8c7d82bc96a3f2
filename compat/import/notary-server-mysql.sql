-- The tables a Go notary-server 0.7 reads and writes on MySQL/MariaDB, as its own migrations
-- leave them (migrations/server/mysql in notary's source, all applied). notary-server does not
-- create its schema; deployments run those migrations first, and the import flow does this.
CREATE TABLE tuf_files (
  id INT NOT NULL AUTO_INCREMENT,
  created_at TIMESTAMP NULL DEFAULT NULL,
  updated_at TIMESTAMP NULL DEFAULT NULL,
  deleted_at TIMESTAMP NULL DEFAULT NULL,
  gun VARCHAR(255) NOT NULL,
  role VARCHAR(255) NOT NULL,
  version INT NOT NULL,
  data LONGBLOB NOT NULL,
  sha256 CHAR(64) DEFAULT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY gun (gun, role, version),
  KEY sha256 (sha256)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

CREATE TABLE change_category (
  category VARCHAR(20) NOT NULL,
  PRIMARY KEY (category)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
INSERT INTO change_category VALUES ('update'), ('deletion');

CREATE TABLE changefeed (
  id INT NOT NULL AUTO_INCREMENT,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  gun VARCHAR(255) NOT NULL,
  version INT NOT NULL,
  sha256 CHAR(64) DEFAULT NULL,
  category VARCHAR(20) NOT NULL DEFAULT 'update',
  PRIMARY KEY (id),
  FOREIGN KEY (category) REFERENCES change_category (category),
  KEY idx_changefeed_gun (gun)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
