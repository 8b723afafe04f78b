-- Reverts 0004_oauth_tokens.up.sql. Stored tokens are lost: run `invsync auth
-- quickbooks-online` (or give a fresh refresh_token) after re-applying it.
DROP TABLE oauth_tokens;
