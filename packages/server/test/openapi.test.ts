import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { type ErrorCode, errorStatus } from '../src/api/errors.js';
import { LOGO } from '../src/app.js';
import { API_TAGS, API_TITLE } from '../src/openapi.js';
import { send, startTestServer, type TestServer } from './helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: the document is read without declaring each OpenAPI shape
type Json = Record<string, any>;

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];

describe('the API reference (/openapi.json, /docs)', () => {
  let server: TestServer;
  let document: Json;
  const operations: Array<{ name: string; operation: Json }> = [];

  before(async () => {
    server = await startTestServer();
    document = (await send(`${server.baseUrl}/openapi.json`)).body;
    for (const [path, item] of Object.entries<Json>(document.paths)) {
      for (const method of METHODS) {
        if (item[method]) operations.push({ name: `${method.toUpperCase()} ${path}`, operation: item[method] });
      }
    }
  });
  after(() => server.close());

  it('carries our name and says how to authenticate', () => {
    assert.equal(document.info.title, API_TITLE);
    assert.match(document.info.description, /## How to authenticate/);
    assert.match(document.info.description, /oauth2\/token[\s\S]*session\/login[\s\S]*VZ-M2M-Token/);
    assert.ok(operations.length >= 20, `only ${operations.length} operations`);
  });

  it('gives every operation a unique id and a tag of its resource', () => {
    const tagNames = new Set(API_TAGS.map((tag) => tag.name));
    assert.deepEqual(
      document.tags.map((tag: Json) => tag.name),
      [...tagNames],
    );
    const ids = new Set<string>();
    for (const { name, operation } of operations) {
      assert.match(operation.operationId ?? '', /^[a-z][A-Za-z0-9]+$/, `${name} has an operation id`);
      assert.ok(!ids.has(operation.operationId), `${name}: operation id ${operation.operationId} is unique`);
      ids.add(operation.operationId);
      assert.equal(operation.tags?.length, 1, `${name} has one tag`);
      assert.ok(tagNames.has(operation.tags[0]), `${name}: tag ${operation.tags[0]} is one of API_TAGS`);
      assert.ok(operation.summary, `${name} has a summary`);
    }
  });

  it("names every response and shows a body that matches its schema (add them as 'x-examples' on the route's schema)", () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    for (const { name, operation } of operations) {
      for (const [status, response] of Object.entries<Json>(operation.responses)) {
        assert.ok(response.description && response.description !== 'Default Response', `${name} ${status} has a name`);
        const media = Object.entries<Json>(response.content ?? {});
        assert.ok(media.length > 0, `${name} ${status} has a body`);
        for (const [type, entry] of media) {
          assert.notEqual(entry.example, undefined, `${name} ${status} ${type} has an example`);
          if (entry.schema) {
            const valid = ajv.validate(entry.schema, entry.example);
            assert.ok(valid, `${name} ${status}: the example matches the schema: ${ajv.errorsText(ajv.errors)}`);
          }
        }
      }
      for (const [type, entry] of Object.entries<Json>(operation.requestBody?.content ?? {})) {
        assert.notEqual(entry.example, undefined, `${name} request ${type} has an example`);
        const valid = ajv.validate(entry.schema, entry.example);
        assert.ok(valid, `${name}: the request example matches the schema: ${ajv.errorsText(ajv.errors)}`);
      }
    }
  });

  it('answers each error example with the status its code is declared with (no 403 example of a 400 error)', () => {
    for (const { name, operation } of operations) {
      for (const [status, response] of Object.entries<Json>(operation.responses)) {
        for (const entry of Object.values<Json>(response.content ?? {})) {
          const code = entry.example?.errorCode;
          if (typeof code !== 'string') continue;
          assert.equal(errorStatus(code as ErrorCode), Number(status), `${name} ${status}: example ${code}`);
        }
      }
    }
  });

  it('takes each operation’s id, tag, scope and examples from its route, and states limits as the server does', () => {
    const publish = document.paths['/admin/v1/messages'].post;
    assert.deepEqual(
      [publish.operationId, publish.tags, publish['x-ccb-scope']],
      ['publishMessage', ['Messages'], 'messages:publish'],
    );
    assert.equal(publish['x-examples'], undefined, 'the examples are moved into the responses');
    const token = document.paths['/api/ts/v1/oauth2/token'].post.responses['413'].content['application/json'].example;
    assert.match(token.errorMessage, /16 KiB/);
    assert.ok(!JSON.stringify(document).includes('1048576 bytes'));
  });

  it('the page shows our name, without a framework top bar or logo', async () => {
    const page = await send(`${server.baseUrl}/docs/`);
    assert.equal(page.status, 200);
    assert.match(page.text, new RegExp(`<title>${API_TITLE} API reference</title>`));
    const init = await send(`${server.baseUrl}/docs/static/swagger-initializer.js`);
    assert.equal(init.status, 200);
    assert.match(init.text, /"layout":\s*"BaseLayout"/);
    // Were the layout ever switched back to the one with a top bar, it would show our logo.
    assert.ok(init.text.includes(Buffer.from(LOGO).toString('base64')), 'our logo replaces the framework logo');
    const favicon = await send(`${server.baseUrl}/docs/static/theme/favicon.svg`);
    assert.equal(favicon.status, 200);
    assert.match(favicon.text, /^<svg /);
  });
});
