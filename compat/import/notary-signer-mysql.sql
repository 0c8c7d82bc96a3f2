-- The table a Go notary-signer 0.7 keeps its private keys in on MySQL/MariaDB, as notary's own
-- migrations leave it (migrations/signer/mysql, all applied). `private` holds each key sealed
-- as a JWE under the passphrase named by `passphrase_alias`.
CREATE TABLE private_keys (
  id INT NOT NULL AUTO_INCREMENT,
  created_at TIMESTAMP NULL DEFAULT NULL,
  updated_at TIMESTAMP NULL DEFAULT NULL,
  deleted_at TIMESTAMP NULL DEFAULT NULL,
  key_id VARCHAR(255) NOT NULL,
  encryption_alg VARCHAR(255) NOT NULL,
  keywrap_alg VARCHAR(255) NOT NULL,
  algorithm VARCHAR(50) NOT NULL,
  passphrase_alias VARCHAR(50) NOT NULL,
  public BLOB NOT NULL,
  private BLOB NOT NULL,
  gun VARCHAR(255) NOT NULL,
  role VARCHAR(255) NOT NULL,
  last_used DATETIME NULL DEFAULT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY key_id (key_id),
  UNIQUE KEY key_id_2 (key_id, algorithm)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
