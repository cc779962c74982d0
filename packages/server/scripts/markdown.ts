/** Markdown pieces of the docs' generated tables. */

/** Text as it reads in a Markdown table cell (no HTML tags, no column breaks). */
export function cell(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\|/g, '\\|');
}

export function code(text: string): string {
  return `\`${text}\``;
}

/** A table with a header row. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `|${cells.map((text) => (text ? ` ${text} ` : ' ')).join('|')}|`;
  return [line(header), `|${header.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}
