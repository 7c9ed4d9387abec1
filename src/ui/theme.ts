// Light or dark: follows the system (prefers-color-scheme) unless the user picked one, which is
// remembered in localStorage. The choice is applied as the `dark` class on <html> (index.css).
import { create } from 'zustand';

export type ThemeChoice = 'system' | 'light' | 'dark';

const STORAGE_KEY = 'kvchat-theme';
const systemDark = () => window.matchMedia('(prefers-color-scheme: dark)');

function stored(): ThemeChoice {
  const value = localStorage.getItem(STORAGE_KEY);
  return value === 'light' || value === 'dark' ? value : 'system';
}

function apply(choice: ThemeChoice): void {
  const dark = choice === 'dark' || (choice === 'system' && systemDark().matches);
  document.documentElement.classList.toggle('dark', dark);
}

interface ThemeState {
  choice: ThemeChoice;
  /** system -> light -> dark -> system. */
  cycle(): void;
}

export const useTheme = create<ThemeState>()((set, get) => {
  const choice = stored();
  apply(choice);
  systemDark().addEventListener('change', () => apply(get().choice));
  return {
    choice,
    cycle() {
      const next: ThemeChoice = { system: 'light', light: 'dark', dark: 'system' }[get().choice] as ThemeChoice;
      if (next === 'system') localStorage.removeItem(STORAGE_KEY);
      else localStorage.setItem(STORAGE_KEY, next);
      apply(next);
      set({ choice: next });
    },
  };
});
