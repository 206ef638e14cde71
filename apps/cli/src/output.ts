/** Colour only for a terminal that wants it (NO_COLOR and pipes get plain text). */
const enabled = () => Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (enabled() ? `\u001b[${code}m${text}\u001b[0m` : text);

export const style = {
  dim: paint(2),
  bold: paint(1),
  red: paint(31),
  green: paint(32),
  yellow: paint(33),
  blue: paint(34),
  magenta: paint(35),
  cyan: paint(36),
};
