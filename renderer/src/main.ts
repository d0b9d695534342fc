// first: defines window.attune in browser mode before any store subscribes to it (imports run in order)
import './lib/web-bridge';
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';

mount(App, { target: document.getElementById('app')! });
