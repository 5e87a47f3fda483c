import assert from 'node:assert/strict';
import {
  codecAuthSettings,
  emailAllowed,
  namespaceGranted,
  TEMPORAL_CLOUD_AUDIENCE,
  TEMPORAL_CLOUD_EMAIL_CLAIM,
  TEMPORAL_CLOUD_JWKS_URL,
} from '../../../infra/codec/codecAuth';

const oneLine = (re: RegExp) => (err: Error) => {
  assert.match(err.message, re);
  assert.ok(!err.message.includes('\n'), err.message);
  return true;
};

describe('codec server authorization settings (CDC_CODEC_TOKEN, CDC_CODEC_JWKS_URL, …)', () => {
  it('none, a static token, or a JWKS (empty values are unset)', () => {
    assert.deepEqual(codecAuthSettings({}), {});
    assert.deepEqual(codecAuthSettings({ CDC_CODEC_TOKEN: '', CDC_CODEC_JWKS_URL: ' ' }), {});
    assert.deepEqual(codecAuthSettings({ CDC_CODEC_TOKEN: 's3cret' }), { token: 's3cret' });
    assert.deepEqual(
      codecAuthSettings({
        CDC_CODEC_JWKS_URL: 'https://idp.example/.well-known/jwks.json',
        CDC_CODEC_JWT_ISSUER: 'https://idp.example/',
        CDC_CODEC_JWT_AUDIENCE: 'codec, https://codec.example ',
        CDC_CODEC_NAMESPACES: 'orders.abc12, inventory.abc12',
      }),
      {
        jwt: {
          jwksUrl: 'https://idp.example/.well-known/jwks.json',
          issuer: 'https://idp.example/',
          audience: ['codec', 'https://codec.example'],
          emailClaims: [TEMPORAL_CLOUD_EMAIL_CLAIM, 'email'],
        },
        namespaces: ['orders.abc12', 'inventory.abc12'],
      },
    );
    // Both: the static token (the CLI's --codec-auth) or a JWT (the Web UI's user).
    const both = codecAuthSettings({
      CDC_CODEC_TOKEN: 't',
      CDC_CODEC_JWKS_URL: 'http://127.0.0.1:9/jwks.json',
      CDC_CODEC_JWT_ALLOWED_EMAILS: 'Ops@Example.com, @sre.example.com',
      CDC_CODEC_JWT_EMAIL_CLAIM: 'upn',
      CDC_CODEC_JWT_NAMESPACE_CLAIM: 'permissions',
    });
    assert.equal(both.token, 't');
    assert.deepEqual(both.jwt, {
      jwksUrl: 'http://127.0.0.1:9/jwks.json',
      allowedEmails: ['ops@example.com', '@sre.example.com'],
      emailClaims: ['upn'],
      namespaceClaim: 'permissions',
    });
  });

  it("Temporal Cloud's JWKS: the audience defaults to Cloud's, and allowed emails are required (every Cloud user holds a token it signs)", () => {
    assert.throws(
      () => codecAuthSettings({ CDC_CODEC_JWKS_URL: TEMPORAL_CLOUD_JWKS_URL }),
      oneLine(/CDC_CODEC_JWT_ALLOWED_EMAILS/),
    );
    const cloud = codecAuthSettings({
      CDC_CODEC_JWKS_URL: TEMPORAL_CLOUD_JWKS_URL,
      CDC_CODEC_JWT_ALLOWED_EMAILS: 'ops@example.com',
    });
    assert.deepEqual(cloud.jwt?.audience, [TEMPORAL_CLOUD_AUDIENCE]);
  });

  it('refuses a bad configuration with one line naming the variable', () => {
    const cases: [NodeJS.ProcessEnv, RegExp][] = [
      [{ CDC_CODEC_JWKS_URL: 'not a url' }, /CDC_CODEC_JWKS_URL.*URL/],
      [{ CDC_CODEC_JWKS_URL: 'http://idp.example/jwks.json' }, /CDC_CODEC_JWKS_URL.*https/],
      [{ CDC_CODEC_JWKS_URL: 'ftp://127.0.0.1/jwks.json' }, /CDC_CODEC_JWKS_URL.*https/],
      [{ CDC_CODEC_JWT_AUDIENCE: 'codec' }, /CDC_CODEC_JWT_AUDIENCE.*CDC_CODEC_JWKS_URL/],
      [{ CDC_CODEC_JWT_ISSUER: 'https://idp.example/' }, /CDC_CODEC_JWT_ISSUER.*CDC_CODEC_JWKS_URL/],
      [{ CDC_CODEC_JWT_ALLOWED_EMAILS: 'a@b.c' }, /CDC_CODEC_JWT_ALLOWED_EMAILS.*CDC_CODEC_JWKS_URL/],
      [
        { CDC_CODEC_JWKS_URL: 'https://idp.example/j', CDC_CODEC_JWT_ALLOWED_EMAILS: 'nobody' },
        /CDC_CODEC_JWT_ALLOWED_EMAILS.*nobody/,
      ],
      [{ CDC_CODEC_NAMESPACES: 'a b' }, /CDC_CODEC_NAMESPACES/],
    ];
    for (const [env, re] of cases)
      assert.throws(() => codecAuthSettings(env), oneLine(re), JSON.stringify(env));
  });

  it('emails match exactly (case-insensitive) or by @domain', () => {
    const allowed = ['ops@example.com', '@sre.example.com'];
    assert.equal(emailAllowed('OPS@example.com', allowed), true);
    assert.equal(emailAllowed('ann@sre.example.com', allowed), true);
    assert.equal(emailAllowed('ann@evil-sre.example.com', allowed), false);
    assert.equal(emailAllowed('ann@sre.example.com.evil', allowed), false);
    assert.equal(emailAllowed('ops@example.com.evil', allowed), false);
    assert.equal(emailAllowed(undefined, allowed), false);
    assert.equal(emailAllowed(42, allowed), false);
  });

  it("a namespace claim grants a namespace by name or as Temporal's `<namespace>:<role>`", () => {
    assert.equal(namespaceGranted(['orders:read', 'x:admin'], 'orders'), true);
    assert.equal(namespaceGranted('orders', 'orders'), true);
    assert.equal(namespaceGranted('orders inventory', 'inventory'), true, 'a space-separated scope string');
    assert.equal(namespaceGranted(['orders-old:read'], 'orders'), false);
    assert.equal(namespaceGranted(['orders:read'], undefined), false);
    assert.equal(namespaceGranted(undefined, 'orders'), false);
    assert.equal(namespaceGranted({ orders: true }, 'orders'), false);
  });
});
