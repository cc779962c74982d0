import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../src/cli/program.js';

/** Every command that runs something (a group such as `messages` only holds others). */
function leaves(command: Command, path: string[] = []): Array<{ name: string; command: Command }> {
  if (command.commands.length === 0) return [{ name: path.join(' '), command }];
  return command.commands.flatMap((sub) => leaves(sub, [...path, sub.name()]));
}

describe('ccb --help', () => {
  const commands = leaves(buildProgram());

  it('covers every command', () => {
    const names = commands.map(({ name }) => name);
    for (const name of ['serve', 'listen', 'simulate', 'publish', 'callbacks register', 'messages replay']) {
      assert.ok(names.includes(name), `${name} in ${names.join(', ')}`);
    }
  });

  it('gives every command but serve --json, as docs/cli.md says', () => {
    const without = commands
      .filter(({ name, command }) => name !== 'serve' && !command.options.some((option) => option.long === '--json'))
      .map(({ name }) => name);
    assert.deepEqual(without, []);
  });

  for (const { name, command } of commands) {
    it(`${name}: an example, required options marked, defaults and variables in one format`, () => {
      const help = command.helpInformation() + helpAfter(command);
      assert.match(help, /Examples?:\n {2}\S/, 'an example');
      const flat = help.replace(/\s+/g, ' ');
      for (const option of command.options) {
        if (option.mandatory)
          assert.match(flat, new RegExp(`${escapeRegExp(option.flags)} [^]*?\\(required`), option.flags);
      }
      // The one format: `(default: x; env: NAME)`, never "env NAME" or "default x" in free text.
      assert.doesNotMatch(flat, /\((?:env|default) [A-Za-z0-9]/, 'notes read "(default: …; env: …)"');
      assert.doesNotMatch(flat, /\(default: [^)]*\) \(default:/, 'one default per option');
    });
  }
});

/** The text a command adds after its options (commander prints it with --help, not helpInformation). */
function helpAfter(command: Command): string {
  let text = '';
  command.configureOutput({
    writeOut: (chunk) => {
      text += chunk;
    },
    writeErr: () => {},
  });
  command.outputHelp();
  return text;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
