/** An error the user can fix (bad flag, bad file): the CLI prints its one line and exits 2. */
export class InputError extends Error {
  override name = "InputError";
  constructor(message: string) {
    super(message);
  }
}
