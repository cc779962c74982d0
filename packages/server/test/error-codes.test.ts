import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERRORS, ErrorCodes, errorBody, errorStatus, HttpError } from '../src/api/errors.js';

const SRC = new URL('../src/', import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

describe('the error-code registry', () => {
  it('declares each code once, with one status and a default text', () => {
    const codes = Object.values(ERRORS).map((error) => error.code);
    assert.equal(new Set(codes).size, codes.length, 'a code is declared twice');
    for (const [name, error] of Object.entries(ERRORS)) {
      assert.equal(ErrorCodes[name as keyof typeof ErrorCodes], error.code);
      assert.ok(error.status >= 400 && error.status < 600, `${name}: ${error.status}`);
      assert.ok(error.text.length > 0, `${name} has no default text`);
    }
  });

  it('gives an HttpError the status of its code and the default text when none is given', () => {
    const error = new HttpError(ErrorCodes.callbackNotFound);
    assert.equal(error.statusCode, 400);
    assert.equal(error.errorMessage, ERRORS.callbackNotFound.text);
    assert.equal(new HttpError(ErrorCodes.notFound, 'message m does not exist').statusCode, 404);
    assert.equal(errorStatus(ErrorCodes.unavailable), 503);
    assert.deepEqual(errorBody(ErrorCodes.requestJson), {
      errorCode: 'INPUT_INVALID.Request.Json',
      errorMessage: 'the request body is not valid JSON',
    });
  });

  it('is the only place a status is paired with a code: no throw site or reply names a status of its own', () => {
    const offenders: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const text = readFileSync(file, 'utf8');
      for (const match of text.matchAll(/new HttpError\(\s*\d|\.code\(\s*[45]\d\d\b|statusCode:\s*[45]\d\d\b/g)) {
        const line = text.slice(0, match.index).split('\n').length;
        offenders.push(`${file.slice(SRC.length)}:${line}: ${match[0]}`);
      }
    }
    assert.deepEqual(offenders, []);
  });
});
