/** Every `sculpt` command, in the order `--help` lists them. One file per command. */
import type { CommandModule } from 'yargs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
];
