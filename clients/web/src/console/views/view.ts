/** What a view gives the shell: its element, and what to stop when it is left. */
export interface View {
  el: HTMLElement;
  title: string;
  dispose?: () => void;
}
